<?php
declare(strict_types=1);

namespace Realtime;

use PDO;

/**
 * The protocol over the shared SQLite state: what the transports call (each call one
 * transaction), what the application calls (Session, broadcast), and the rules tying
 * connections and sessions together (docs/protocol.md §5 lifetime, §11 effects of a close).
 * The work itself is done by Handshake, Inbound, Outbound and Timers.
 */
final class Server
{
    public readonly Store $store;
    public readonly Connections $conns;
    public readonly Sessions $sessions;
    public readonly Timers $timers;
    private readonly Outbound $out;
    private readonly Handshake $handshake;
    private readonly Inbound $inbound;
    /** Sessions sent to during this transaction: flushed once at its end, so its messages share frames. */
    private array $dirty = [];

    public function __construct(public readonly Config $config)
    {
        $this->store = new Store($config->database);
        $this->conns = new Connections($this->store);
        $this->sessions = new Sessions($this->store);
        $this->out = new Outbound($this, $this->sessions, $this->conns, $config);
        $this->handshake = new Handshake($this, $this->sessions, $this->conns, $config);
        $this->inbound = new Inbound($this, $this->sessions, $this->conns);
        $this->timers = new Timers($this, $this->sessions, $this->conns, $config);
        $this->installApp();
        $config->app->start($this);
    }

    /** The database, for the application's own tables (inside its callbacks: the same transaction). */
    public function db(): PDO
    {
        return $this->store->pdo;
    }

    public function session(string $sid): Session
    {
        return new Session($this, $sid);
    }

    // ---- what the transports call ----------------------------------------------------------

    /** A new connection of $kind ('websocket', 'stream', 'poll') awaiting hello. */
    public function open(string $kind, string $ip, ?string $holder = null): string
    {
        return $this->store->tx(fn () => $this->conns->open($kind, $ip, $holder, $this->config->maxMessageBytes));
    }

    /**
     * Frames from the client on connection $connId, in order (one POST body, or WebSocket
     * messages). 'ok', or 'unknown' (no such connection) or 'ended' (it is closing) for a 404.
     *
     * @param list<string> $texts
     * @param array<string, mixed> $request ip, origin and headers of the request, for the authenticate hook
     */
    public function receive(string $connId, array $texts, ?string $bearer = null, array $request = []): string
    {
        return $this->guarded($connId, function () use ($connId, $texts, $bearer, $request): string {
            $conn = $this->conns->get($connId);
            if ($conn === null) {
                return 'unknown';
            }
            if ($conn['state'] === 'closing') {
                return 'ended';
            }
            $this->conns->update($connId, ['last_recv_at' => Frames::now()]);
            $this->handleAll($connId, $texts, $bearer, $request);
            return 'ok';
        });
    }

    /**
     * A poll arrives (docs/protocol.md §14.4): its body is handled unless the link is closing,
     * and it becomes the held poll, which answers any poll held before it. 'ok', 'unknown', or
     * 'stream' (a poll on a stream link).
     *
     * @param list<string> $texts
     */
    public function beginPoll(string $connId, string $pollId, int $wait, array $texts, ?string $bearer, array $request): string
    {
        return $this->guarded($connId, function () use ($connId, $pollId, $wait, $texts, $bearer, $request): string {
            $conn = $this->conns->get($connId);
            if ($conn === null) {
                return 'unknown';
            }
            if ($conn['kind'] !== 'poll') {
                return 'stream';
            }
            // Timers first: a poll after a long silence gets the heartbeat close it earned.
            $this->timers->run($conn);
            $conn = $this->conns->get($connId);
            if ($conn === null) {
                return 'unknown';
            }
            $now = Frames::now();
            if ($conn['state'] !== 'closing') {
                $this->conns->update($connId, ['last_recv_at' => $now]);
                $this->handleAll($connId, $texts, $bearer, $request);
            }
            if ($this->conns->get($connId) !== null) {
                $this->conns->update($connId, ['poll_id' => $pollId, 'poll_until' => $now + min($wait, $this->config->pollTimeout), 'last_poll_at' => $now]);
            }
            return 'ok';
        });
    }

    /**
     * What a poll answers with: the outbox rows not being written by another poll, now marked as
     * its own; null when the link is gone. Ends the hold when this poll is the one held.
     *
     * @return list<array<string, mixed>>|null
     */
    public function takeForPoll(string $connId, string $pollId): ?array
    {
        return $this->store->tx(function () use ($connId, $pollId): ?array {
            $conn = $this->conns->get($connId);
            if ($conn === null) {
                return null;
            }
            // Rows another poll is writing go first (or back to the queue): never overtake them.
            $rows = $this->conns->inFlight($connId) ? [] : $this->conns->pending($connId, PHP_INT_MAX);
            $this->conns->markTaken(array_column($rows, 'n'), $pollId);
            $fields = ['last_poll_at' => Frames::now()];
            if ($conn['poll_id'] === $pollId) {
                $fields += ['poll_id' => null, 'poll_until' => null];
            }
            $this->conns->update($connId, $fields);
            return $rows;
        });
    }

    /** After the answer was written: delivered, its rows go (and an ended link with them); not delivered, they stay queued. */
    public function finishPoll(string $connId, string $pollId, bool $delivered, bool $ended): void
    {
        $this->store->tx(function () use ($connId, $pollId, $delivered, $ended): void {
            if (!$delivered) {
                $this->conns->release($pollId);
                return;
            }
            $this->store->run('DELETE FROM outbox WHERE taken_by = ?', [$pollId]);
            $conn = $this->conns->get($connId);
            if ($conn === null) {
                return;
            }
            if ($ended) {
                $this->conns->delete($connId); // its close frame went out: forget the link (§14.4 point 6)
                return;
            }
            $this->conns->update($connId, ['last_poll_at' => Frames::now()]);
            $this->flushConn($conn);
        });
    }

    /**
     * Takes what connection $connId (a WebSocket or a stream, written by its holder) has to write,
     * about $bytes of it; after the rows are gone, what waited behind the backlog may follow.
     *
     * @return list<array<string, mixed>>|null null when the connection is gone
     */
    public function takeForHolder(string $connId, int $bytes): ?array
    {
        return $this->store->tx(function () use ($connId, $bytes): ?array {
            $conn = $this->conns->get($connId);
            if ($conn === null) {
                return null;
            }
            $rows = $this->conns->pending($connId, $bytes);
            $this->conns->deleteRows(array_column($rows, 'n'));
            $this->flushConn($conn);
            return $rows;
        });
    }

    /** The holder saw its client go (socket closed, stream aborted): forget the connection, keep the session. */
    public function drop(string $connId): void
    {
        $this->store->tx(fn () => $this->dropConn($connId));
    }

    /** The client closed the WebSocket with $code and no close frame (§5): 1000 ends the session. */
    public function clientClosed(string $connId, int $code, string $reason): void
    {
        $this->store->tx(function () use ($connId, $code, $reason): void {
            $conn = $this->conns->get($connId);
            if ($conn === null) {
                return;
            }
            $this->conns->delete($connId);
            $sid = $conn['sid'];
            if ($sid === null || $conn['state'] !== 'open') {
                return; // 1000 before welcome (an upgrade probe) ends nothing
            }
            if ($code === 1000) {
                $this->endSession($sid, 1000, $reason);
            } elseif (($this->sessions->get($sid)['conn'] ?? null) === $connId) {
                $this->detachSession($sid);
            }
        });
    }

    /**
     * The transport found the client breaking the protocol (a body over the limits, a binary or
     * oversized WebSocket message): close frame $code, ending the session as §11 says for it.
     */
    public function fail(string $connId, int $code, string $reason): void
    {
        $this->store->tx(function () use ($connId, $code, $reason): void {
            $conn = $this->conns->get($connId);
            if ($conn !== null) {
                $this->closeConn($connId, $code, $reason, $conn['state'] === 'open' ? 'end' : 'none');
                $this->flushDirty();
            }
        });
    }

    /** The daemon stops: its connections get close 1001 and their sessions wait for a resume (they live in the database). */
    public function shutdown(string $connId): void
    {
        $this->store->tx(fn () => $this->closeConn($connId, 1001, 'server shutting down', 'detach'));
    }

    /** The holder writing $connId has ended it after its end marker. */
    public function forget(string $connId): void
    {
        $this->store->tx(fn () => $this->conns->delete($connId));
    }

    // ---- what the application calls ------------------------------------------------------

    public function sendJson(string $sid, string $json): bool
    {
        return $this->atomically(fn () => $this->out->send($sid, $json));
    }

    public function closeSession(string $sid, int $code, string $reason): void
    {
        if ($code !== 1000 && ($code < 3000 || $code > 4999)) {
            throw new RealtimeError('config', "close code $code: use 1000 or 3000-4999");
        }
        $this->atomically(fn () => $this->endSession($sid, $code, $reason));
    }

    public function disconnectSession(string $sid): void
    {
        $this->atomically(function () use ($sid): void {
            $conn = $this->sessions->get($sid)['conn'] ?? null;
            if ($conn !== null) {
                $this->closeConn($conn, null, 'disconnected', 'detach');
            }
        });
    }

    public function isConnected(string $sid): bool
    {
        return ($this->sessions->get($sid)['conn'] ?? null) !== null;
    }

    /**
     * Sends $data to every session for which $filter(Session) is true (all when null); resolves
     * how many got it. A session whose client cannot take it is skipped and the skip logged.
     */
    public function broadcast(mixed $data, ?callable $filter = null): int
    {
        $json = Frames::payload($data);
        return $this->atomically(function () use ($json, $filter): int {
            $count = 0;
            foreach ($this->store->rows('SELECT sid FROM sessions') as ['sid' => $sid]) {
                if ($filter !== null && !$filter($this->session($sid))) {
                    continue;
                }
                try {
                    $count += $this->out->send($sid, $json) ? 1 : 0;
                } catch (RealtimeError $e) {
                    error_log("realtime: broadcast skipped a session: {$e->getMessage()}");
                }
            }
            return $count;
        });
    }

    // ---- the rules, for Handshake, Inbound, Outbound, Timers ---------------------------------

    public function markDirty(string $sid): void
    {
        $this->dirty[$sid] = true;
    }

    /** Calls the application; its exception is logged and undoes only its own writes. */
    public function event(callable $call): void
    {
        try {
            $this->store->savepoint(fn () => $call($this->config->app));
        } catch (\Throwable $e) {
            error_log('realtime: the application threw ' . get_class($e) . ': ' . $e->getMessage());
        }
    }

    /**
     * Closes connection $connId from the server side: a close frame with $frameCode (none when
     * null), then the transport closes with $endCode (default $frameCode; both null: dropped).
     * $effect on its session: 'end', 'detach' (resumable) or 'none'.
     */
    public function closeConn(string $connId, ?int $frameCode, string $reason, string $effect, ?int $endCode = null, ?int $sessionCode = null): void
    {
        $conn = $this->conns->get($connId);
        if ($conn === null || $conn['state'] === 'closing') {
            return;
        }
        $sid = $conn['sid'];
        if ($sid !== null && $frameCode !== null) {
            $this->out->flush($sid); // what was sent before the close goes out before it
        }
        if ($frameCode !== null) {
            $this->conns->append($connId, Frames::encode(['t' => 'close', 'code' => $frameCode, 'reason' => $reason]));
        }
        $this->conns->appendEnd($connId, $endCode ?? $frameCode, $reason);
        $this->conns->update($connId, ['state' => 'closing', 'sid' => null, 'owed' => null]);
        if ($conn['kind'] === 'poll' && $frameCode === null && !$this->pollHeld($conn)) {
            // Closed without a close frame: nobody will come for it (§14.4 point 6).
            $this->conns->delete($connId);
        }
        if ($sid === null || $effect === 'none') {
            return;
        }
        if ($effect === 'end') {
            $this->endSession($sid, $sessionCode ?? $frameCode ?? $endCode ?? 1000, $reason);
        } else {
            $this->detachSession($sid);
        }
    }

    /** A resume elsewhere takes the session: its old connection closes with 1000 'replaced' and no frame (§5). */
    public function replace(string $connId): void
    {
        $this->conns->clearOutbox($connId);
        $this->closeConn($connId, null, 'replaced', 'none', 1000);
    }

    /** Ends session $sid for good: its connection gets the close frame, the application onClose. */
    public function endSession(string $sid, int $code, string $reason): void
    {
        $session = $this->sessions->get($sid);
        if ($session === null) {
            return;
        }
        if ($session['conn'] !== null) {
            $this->closeConn($session['conn'], $code, $reason, 'none');
        }
        $this->sessions->delete($sid);
        unset($this->dirty[$sid]);
        $handle = $this->session($sid);
        $this->event(fn (Application $app) => $app->onClose($handle, $code, $reason));
    }

    public function detachSession(string $sid): void
    {
        $this->sessions->update($sid, ['conn' => null, 'detached_at' => Frames::now()]);
        $handle = $this->session($sid);
        $this->event(fn (Application $app) => $app->onDisconnect($handle));
    }

    public function dropConn(string $connId): void
    {
        $conn = $this->conns->get($connId);
        if ($conn === null) {
            return;
        }
        $this->conns->delete($connId);
        $sid = $conn['sid'];
        if ($sid !== null && ($this->sessions->get($sid)['conn'] ?? null) === $connId) {
            $this->detachSession($sid);
        }
    }

    /** @param array<string, mixed> $conn */
    public function flushConn(array $conn): void
    {
        if ($conn['sid'] !== null) {
            $this->out->flush($conn['sid']);
        }
    }

    /** @param array<string, mixed> $conn */
    public function pollHeld(array $conn): bool
    {
        return $conn['poll_id'] !== null && $conn['poll_until'] !== null && $conn['poll_until'] >= Frames::now() - 1000;
    }

    public function flushDirty(): void
    {
        while ($this->dirty !== []) {
            $sid = (string) array_key_first($this->dirty);
            unset($this->dirty[$sid]);
            $this->out->flush($sid);
        }
    }

    // ---- inside ----------------------------------------------------------------------------

    /** @param list<string> $texts */
    private function handleAll(string $connId, array $texts, ?string $bearer, array $request): void
    {
        foreach ($texts as $text) {
            $conn = $this->conns->get($connId);
            if ($conn === null || $conn['state'] === 'closing') {
                break;
            }
            try {
                $this->handle($conn, $text, $bearer, $request);
            } catch (ProtocolError $e) {
                // After welcome a protocol error ends the session; before it there is none (§11).
                $this->closeConn($connId, $e->closeCode, $e->getMessage(), $conn['state'] === 'open' ? 'end' : 'none');
                break;
            }
        }
        $this->flushDirty();
    }

    /** @param array<string, mixed> $conn */
    private function handle(array $conn, string $text, ?string $bearer, array $request): void
    {
        if (strlen($text) > $this->config->maxMessageBytes) {
            throw new ProtocolError(4413, sprintf('frame of %d bytes is over max %d', strlen($text), $this->config->maxMessageBytes));
        }
        $frame = Frames::decode($text);
        if ($conn['state'] === 'hello') {
            if ($frame->t !== 'hello') {
                throw new ProtocolError(4400, 'expected a hello frame first, got ' . Frames::typeName($frame));
            }
            $this->handshake->hello($conn, $frame, $bearer, $request);
            return;
        }
        $session = $this->sessions->get($conn['sid']);
        if ($session === null) {
            $this->closeConn($conn['id'], 4500, 'session state lost', 'none');
            return;
        }
        $this->inbound->frame($conn, $session, $frame);
    }

    /**
     * Runs $work in a transaction; a bug inside (anything but a protocol error) rolls it back
     * and closes that connection with 4500, keeping its session (§11), and the process lives on.
     */
    private function guarded(string $connId, callable $work): string
    {
        try {
            return $this->store->tx(function () use ($work) {
                $result = $work();
                $this->flushDirty();
                return $result;
            });
        } catch (\Throwable $e) {
            $this->dirty = [];
            error_log('realtime: ' . get_class($e) . ' while handling a request: ' . $e->getMessage() . ' at ' . $e->getFile() . ':' . $e->getLine());
            $this->store->tx(fn () => $this->closeConn($connId, 4500, 'server error', 'detach'));
            return 'ok';
        }
    }

    /** Runs $work in a transaction of its own unless one is open (application callbacks), flushing at its end. */
    private function atomically(callable $work): mixed
    {
        if ($this->store->inTransaction()) {
            return $work();
        }
        return $this->store->tx(function () use ($work) {
            $result = $work();
            $this->flushDirty();
            return $result;
        });
    }

    private function installApp(): void
    {
        $marker = 'app:' . get_class($this->config->app);
        if ($this->store->value('SELECT value FROM meta WHERE name = ?', [$marker]) !== null) {
            return;
        }
        $this->store->tx(function () use ($marker): void {
            if ($this->store->value('SELECT value FROM meta WHERE name = ?', [$marker]) === null) {
                $this->config->app->install($this);
                $this->store->run('INSERT INTO meta (name, value) VALUES (?, 1)', [$marker]);
            }
        });
    }
}
