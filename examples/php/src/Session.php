<?php
declare(strict_types=1);

namespace Realtime;

/** The application's handle on one session; any process may hold one for any session. */
final class Session
{
    public function __construct(
        private readonly Server $rt,
        public readonly string $id,
    ) {
    }

    /**
     * Queues $data (any JSON value) for the client; it leaves when the current event is over,
     * batched with the others of that event. False when the session has ended. Throws
     * RealtimeError 'too-large' if it can never fit the client's frames, 'not-json' if JSON
     * cannot encode it.
     */
    public function send(mixed $data): bool
    {
        return $this->rt->sendJson($this->id, Frames::payload($data));
    }

    /** Ends the session: close frame, then the transport closes with the same code (1000 or 3000-4999). */
    public function close(int $code = 1000, string $reason = ''): void
    {
        $this->rt->closeSession($this->id, $code, $reason);
    }

    /** Drops the connection without a close frame, keeping the session resumable (tests and demos). */
    public function disconnect(): void
    {
        $this->rt->disconnectSession($this->id);
    }

    /** Whether a connection carries the session now. */
    public function connected(): bool
    {
        return $this->rt->isConnected($this->id);
    }
}
