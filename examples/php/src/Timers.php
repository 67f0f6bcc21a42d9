<?php
declare(strict_types=1);

namespace Realtime;

/**
 * Time, without a process of its own: a connection's timers (handshake timeout, ping, the
 * heartbeat deadline, docs/protocol.md §4, §10) run when whoever holds it looks (the daemon, a
 * stream, a held poll, the next poll), and the sweep (expired sessions, abandoned links, dead
 * holders) runs at most once a second, in whichever process gets there first.
 */
final class Timers
{
    /** A holder (daemon, stream request) that has not renewed its connections for this long is dead. */
    public const HOLDER_GRACE_MS = 10_000;
    /** Holders renew their sign of life this often. */
    public const RENEW_MS = 2_000;

    public function __construct(
        private readonly Server $rt,
        private readonly Sessions $sessions,
        private readonly Connections $conns,
        private readonly Config $config,
    ) {
    }

    /**
     * Runs connection $connId's timers now; returns when they are next due (ms since the epoch),
     * or null when the connection is gone or closing.
     */
    public function tick(string $connId): ?int
    {
        return $this->rt->store->tx(function () use ($connId): ?int {
            $conn = $this->conns->get($connId);
            if ($conn === null) {
                return null;
            }
            $this->run($conn);
            $this->rt->flushDirty();
            $conn = $this->conns->get($connId);
            return $conn === null || $conn['state'] === 'closing' ? null : $this->due($conn);
        });
    }

    /** When $conn's timers are next due, from its row: a cached value is never later than the truth. */
    public function due(array $conn): int
    {
        $hb = $this->config->heartbeatInterval;
        return $conn['state'] === 'hello'
            ? $conn['opened_at'] + $this->config->handshakeTimeout
            : min($conn['last_recv_at'] + 2 * $hb, $conn['last_sent_at'] + $hb);
    }

    /** @param array<string, mixed> $conn (inside a transaction) */
    public function run(array $conn): void
    {
        $now = Frames::now();
        $hb = $this->config->heartbeatInterval;
        if ($conn['state'] === 'hello' && $now >= $conn['opened_at'] + $this->config->handshakeTimeout) {
            $this->rt->closeConn($conn['id'], 4408, "no hello within {$this->config->handshakeTimeout} ms", 'none');
        } elseif ($conn['state'] === 'open' && $now >= $conn['last_recv_at'] + 2 * $hb) {
            $this->rt->closeConn($conn['id'], 4408, 'heartbeat timeout', 'detach');
        } elseif ($conn['state'] === 'open' && $now >= $conn['last_sent_at'] + $hb && $this->conns->backlog($conn['id']) <= 4096) {
            $received = $this->sessions->get($conn['sid'])['received'] ?? 0;
            $this->conns->append($conn['id'], Frames::encode(['t' => 'ping', 'a' => $received]));
            $this->conns->update($conn['id'], ['ack_sent' => $received, 'owed' => $conn['owed'] === 'ack' ? null : $conn['owed']]);
        }
    }

    /** The sweep, when a second has passed since the last one (any process may run it). */
    public function sweepIfDue(): void
    {
        $now = Frames::now();
        if ((int) $this->rt->store->value("SELECT value FROM meta WHERE name = 'next_sweep'") > $now) {
            return;
        }
        $this->rt->store->tx(function () use ($now): void {
            if ((int) $this->rt->store->value("SELECT value FROM meta WHERE name = 'next_sweep'") > $now) {
                return; // another process got there first
            }
            $this->rt->store->run("UPDATE meta SET value = ? WHERE name = 'next_sweep'", [$now + 1000]);
            $this->sweep($now);
            $this->rt->flushDirty();
        });
    }

    private function sweep(int $now): void
    {
        $db = $this->rt->store;
        // Sessions detached for sessionTtl expire (§5).
        foreach ($db->rows('SELECT sid FROM sessions WHERE conn IS NULL AND detached_at <= ?', [$now - $this->config->sessionTtl]) as $row) {
            $this->rt->endSession($row['sid'], 1006, 'session expired');
        }
        // Connections whose holder died (a killed daemon or worker) are link drops.
        foreach ($db->rows('SELECT id FROM conns WHERE holder IS NOT NULL AND alive_at < ?', [$now - self::HOLDER_GRACE_MS]) as $row) {
            $this->rt->dropConn($row['id']);
        }
        // A long-poll link nobody polled for pollTimeout + 10 s is dropped (§14.4 point 5).
        $idle = $db->rows(
            "SELECT id FROM conns WHERE kind = 'poll' AND (poll_until IS NULL OR poll_until < ?) AND last_poll_at <= ?",
            [$now - 1000, $now - $this->config->pollTimeout - 10_000],
        );
        foreach ($idle as $row) {
            $this->rt->dropConn($row['id']);
        }
        // Rows a poll took and never finished with (its process died mid-answer) go back to the queue.
        $db->run('UPDATE outbox SET taken_by = NULL, taken_at = NULL WHERE taken_at < ?', [$now - 30_000]);
    }

    /** A holder's sign of life for all its connections. */
    public function renew(string $holder): void
    {
        $this->rt->store->tx(fn () => $this->rt->store->run('UPDATE conns SET alive_at = ? WHERE holder = ?', [Frames::now(), $holder]));
    }
}
