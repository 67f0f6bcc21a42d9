<?php
declare(strict_types=1);

namespace Realtime;

/**
 * The one error type of this server. `kind` says what went wrong, for code that handles it:
 * 'protocol' (a peer broke docs/protocol.md: the connection closes with closeCode),
 * 'too-large' (a message can never fit the client's frames), 'not-json' (a value JSON cannot
 * encode), 'ended' (the session is over), 'config' (a setting is wrong).
 */
class RealtimeError extends \RuntimeException
{
    public function __construct(
        public readonly string $kind,
        string $message,
        ?\Throwable $previous = null,
    ) {
        parent::__construct($message, 0, $previous);
    }
}

/** A peer broke the protocol: close the connection with this code and reason (docs/protocol.md §11). */
final class ProtocolError extends RealtimeError
{
    public function __construct(
        public readonly int $closeCode,
        string $reason,
    ) {
        parent::__construct('protocol', $reason);
    }
}
