<?php
declare(strict_types=1);

namespace Realtime\Ws;

use Realtime\Frames;
use Realtime\Server;
use Realtime\Timers;

/**
 * The WebSocket daemon (`php examples/php/ws-daemon.php`): one process, one stream_select loop
 * over every client socket. It is the holder of its WebSocket connections: it hands their
 * messages to the protocol, writes their outboxes (which any process may append to: an HTTP
 * request sending to a WebSocket user), runs their timers and renews their sign of life. The
 * sessions themselves live in SQLite, so a session moves freely between the daemon and the
 * HTTP transports, and a daemon killed mid-conversation leaves them resumable.
 */
final class Daemon
{
    /** A client socket is written ahead at most this much; the rest waits in its outbox (§9). */
    private const SOCKET_BACKLOG = 1_048_576;
    /** See admit(). */
    private const RELAY_SPACING_MS = 20;

    /** @var array<int, Peer> by socket id */
    private array $peers = [];
    /** @var array<int, Relay> by client socket id: relays under way */
    private array $relays = [];
    /** @var list<Relay> relays waiting for their upstream connection, in order of arrival */
    private array $waiting = [];
    /** Connections whose outbox this process itself may have changed (its own commits do not move data_version). */
    private array $check = [];
    private string $holder;
    private bool $stopping = false;

    /** @param resource $listener */
    public function __construct(private readonly Server $rt, private readonly mixed $listener, private readonly ?string $upstream)
    {
        $this->holder = 'ws:' . Frames::randomId();
        stream_set_blocking($listener, false);
    }

    public function stop(): void
    {
        $this->stopping = true;
    }

    public function run(): void
    {
        $store = $this->rt->store;
        $version = null;
        $renewedAt = 0;
        while (!$this->stopping) {
            [$read, $write] = $this->sockets();
            $except = null;
            if (@stream_select($read, $write, $except, 0, $this->rt->config->waitStep * 1000) === false) {
                continue; // a signal
            }
            foreach ($read as $socket) {
                if ($socket === $this->listener) {
                    $this->accept();
                } elseif (isset($this->peers[(int) $socket])) {
                    $this->readable($this->peers[(int) $socket]);
                }
            }
            foreach ($this->relays as $id => $relay) {
                $touched = array_intersect([$relay->client, $relay->upstream], [...$read, ...$write]);
                if ($touched !== [] && !$relay->pump($read, $write)) {
                    unset($this->relays[$id]);
                }
            }
            foreach ($write as $socket) {
                if (isset($this->peers[(int) $socket])) {
                    $this->peers[(int) $socket]->flush();
                }
            }
            $current = $store->dataVersion();
            if ($current !== $version || $this->check !== []) {
                $version = $current;
                $this->deliver();
            }
            $this->timers();
            if (Frames::now() - $renewedAt >= Timers::RENEW_MS) {
                $renewedAt = Frames::now();
                $this->rt->timers->renew($this->holder);
            }
            $this->rt->timers->sweepIfDue();
            $this->reap();
            $this->admit();
        }
        $this->shutdown();
    }

    /**
     * Connects waiting relays to PHP's built-in server one at a time. A worker of `php -S`
     * accepts connections while it reads a request and then runs that request's script to the
     * end before it serves the others it accepted: a hello arriving in that instant waits behind
     * a held poll for the whole poll. So the next connection is opened only once the previous
     * one was answered, or RELAY_SPACING_MS later, by when its worker is busy running it and
     * no longer accepting.
     */
    private function admit(): void
    {
        while ($this->waiting !== []) {
            $now = Frames::now();
            foreach ($this->relays as $relay) {
                if (!$relay->answered && $now - $relay->connectedAt < self::RELAY_SPACING_MS) {
                    return;
                }
            }
            $relay = array_shift($this->waiting);
            if ($relay->connect()) {
                $this->relays[(int) $relay->client] = $relay;
            }
        }
    }

    /** @return array{list<resource>, list<resource>} */
    private function sockets(): array
    {
        $read = [$this->listener];
        $write = [];
        foreach ($this->peers as $peer) {
            $read[] = $peer->socket;
            if ($peer->out !== '' || $peer->state === 'closing') {
                $write[] = $peer->socket;
            }
        }
        foreach ($this->relays as $relay) {
            array_push($read, ...$relay->readers());
            array_push($write, ...$relay->writers());
        }
        return [$read, $write];
    }

    private function accept(): void
    {
        $socket = @stream_socket_accept($this->listener, 0);
        if ($socket === false) {
            return;
        }
        stream_set_blocking($socket, false);
        $this->peers[(int) $socket] = new Peer($socket, $this->rt, $this->holder, $this->upstream);
    }

    private function readable(Peer $peer): void
    {
        $id = (int) $peer->socket;
        try {
            $result = $peer->read();
        } catch (\RuntimeException $e) {
            error_log('ws-daemon: ' . $e->getMessage());
            unset($this->peers[$id]);
            @fclose($peer->socket);
            return;
        }
        if ($result instanceof Relay) {
            unset($this->peers[$id]);
            $this->waiting[] = $result;
            return;
        }
        if ($result !== [] && $peer->conn !== null) {
            $this->rt->receive($peer->conn, $result, null, $peer->request());
        }
        if ($peer->conn !== null) {
            $this->check[$peer->conn] = true;
        }
    }

    /** Writes what the outboxes of this daemon's connections hold. */
    private function deliver(): void
    {
        $rows = $this->rt->store->rows('SELECT DISTINCT o.conn FROM outbox o JOIN conns c ON c.id = o.conn WHERE c.holder = ?', [$this->holder]);
        $this->check = [];
        $byConn = [];
        foreach ($this->peers as $peer) {
            if ($peer->conn !== null) {
                $byConn[$peer->conn] = $peer;
            }
        }
        foreach ($rows as ['conn' => $conn]) {
            $peer = $byConn[$conn] ?? null;
            if ($peer === null) {
                $this->rt->drop($conn); // a connection of this holder without a socket
                continue;
            }
            if (strlen($peer->out) > self::SOCKET_BACKLOG) {
                continue; // the client reads slowly: the rest waits in the database
            }
            foreach ($this->rt->takeForHolder($conn, self::SOCKET_BACKLOG) ?? [] as $row) {
                if ($row['frame'] === null) {
                    $peer->closeWith($row['end_code'], (string) $row['end_reason']);
                    $this->rt->forget($conn);
                    $peer->conn = null;
                    break;
                }
                $peer->sendText($row['frame']);
            }
            $peer->flush();
        }
    }

    /** Handshake timeout, ping, the heartbeat deadline (§10), and clients that stopped reading. */
    private function timers(): void
    {
        $now = Frames::now();
        $hb = $this->rt->config->heartbeatInterval;
        foreach ($this->peers as $peer) {
            if ($peer->state === 'http' && $now - $peer->openedAt > 10_000) {
                $peer->closeWith(null, '');
            } elseif ($peer->conn !== null && $peer->out !== '' && $now - $peer->progressAt > 2 * $hb) {
                $this->rt->fail($peer->conn, 4408, 'not reading: nothing written for ' . (2 * $hb) . ' ms');
                $this->check[$peer->conn] = true;
            } elseif ($peer->conn !== null && $now >= $peer->due) {
                $peer->due = $this->rt->timers->tick($peer->conn) ?? $now + 1000;
                $this->check[$peer->conn] = true;
            }
        }
    }

    private function reap(): void
    {
        foreach ($this->peers as $id => $peer) {
            if ($peer->closed()) {
                if ($peer->conn !== null) {
                    $this->rt->drop($peer->conn);
                }
                unset($this->peers[$id]);
            }
        }
    }

    /** SIGTERM: every connection gets close 1001; the sessions stay in the database for a resume anywhere. */
    private function shutdown(): void
    {
        foreach ($this->peers as $peer) {
            if ($peer->conn !== null) {
                $this->rt->shutdown($peer->conn);
            }
        }
        $this->deliver();
        $end = Frames::now() + 1000;
        while (Frames::now() < $end && array_filter($this->peers, fn (Peer $p) => $p->out !== '')) {
            foreach ($this->peers as $peer) {
                $peer->flush();
            }
            usleep(10_000);
        }
        foreach ($this->peers as $peer) {
            @fclose($peer->socket);
        }
        foreach ([...$this->relays, ...$this->waiting] as $relay) {
            $relay->close();
        }
        fclose($this->listener);
    }

}
