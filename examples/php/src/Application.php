<?php
declare(strict_types=1);

namespace Realtime;

/**
 * What the server does with messages: the PHP counterpart of the reference server's
 * 'connection' listener and session events (docs/protocol.md §17).
 *
 * Every method runs inside the database transaction of the event that caused it, in whichever
 * process saw that event (a request, the daemon). So what the application writes to its own
 * tables through $rt->db() commits together with the protocol's state: a message is delivered,
 * recorded and acknowledged in one step, and a crash before the commit delivers it again (with
 * the same seq) to the next process, never loses it. An exception is logged and undoes only the
 * application's own writes for that event; the connection goes on.
 */
interface Application
{
    /** Called in every process that starts a Server, before any event: keep $rt to reach the database and other sessions. */
    public function start(Server $rt): void;

    /** Creates the application's tables (called once per database, inside a transaction). */
    public function install(Server $rt): void;

    /** A new session (not a resume). */
    public function onOpen(Session $session): void;

    /** A message from the client, with its sequence number, exactly once and in order. */
    public function onMessage(Session $session, mixed $data, int $seq): void;

    /** The session lost its connection; it may resume within sessionTtl. */
    public function onDisconnect(Session $session): void;

    /** The session's client came back (a resume, on any transport, through any process). */
    public function onResume(Session $session): void;

    /** The session ended for good: closed by either side, expired (1006 'session expired'), overrun. */
    public function onClose(Session $session, int $code, string $reason): void;
}
