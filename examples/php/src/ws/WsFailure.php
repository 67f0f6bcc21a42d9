<?php
declare(strict_types=1);

namespace Realtime\Ws;

/** A WebSocket-level fault of the client: close with this code (1002 for RFC 6455, 4400/4413 for the protocol's own). */
final class WsFailure extends \RuntimeException
{
    public function __construct(public readonly int $closeCode, string $reason)
    {
        parent::__construct($reason);
    }
}
