<?php
declare(strict_types=1);

namespace Realtime;

/**
 * The connections table and each connection's outbox: one row per WebSocket or HTTP link,
 * and the frames it has yet to write, in order. Whoever writes a connection (the daemon for a
 * WebSocket, the stream's own request, the next poll) drains its outbox; whoever produces
 * frames for it (any process) appends to it.
 */
final class Connections
{
    public function __construct(private readonly Store $db)
    {
    }

    /** A new connection awaiting its hello; returns its id (128+ random bits: it is the link id). */
    public function open(string $kind, string $ip, ?string $holder, int $maxOut): string
    {
        $id = Frames::randomId();
        $now = Frames::now();
        $this->db->run(
            'INSERT INTO conns (id, kind, state, ip, opened_at, last_recv_at, last_sent_at, max_out, holder, alive_at, last_poll_at)
             VALUES (?, ?, \'hello\', ?, ?, ?, ?, ?, ?, ?, ?)',
            [$id, $kind, $ip, $now, $now, $now, $maxOut, $holder, $holder === null ? null : $now, $now],
        );
        return $id;
    }

    /** @return array<string, mixed>|null */
    public function get(string $id): ?array
    {
        return $this->db->row('SELECT * FROM conns WHERE id = ?', [$id]);
    }

    /** @param array<string, mixed> $fields */
    public function update(string $id, array $fields): void
    {
        $set = implode(', ', array_map(fn ($name) => "$name = ?", array_keys($fields)));
        $this->db->run("UPDATE conns SET $set WHERE id = ?", [...array_values($fields), $id]);
    }

    public function delete(string $id): void
    {
        $this->db->run('DELETE FROM outbox WHERE conn = ?', [$id]);
        $this->db->run('DELETE FROM conns WHERE id = ?', [$id]);
    }

    /** Connections from $ip still waiting for their hello. */
    public function pendingFrom(string $ip): int
    {
        return (int) $this->db->value("SELECT COUNT(*) FROM conns WHERE ip = ? AND state = 'hello'", [$ip]);
    }

    /** Appends one frame to the connection's outbox; $lastSeq for msg frames. */
    public function append(string $id, string $frame, ?int $lastSeq = null): void
    {
        $this->db->run('INSERT INTO outbox (conn, frame, last_seq, bytes) VALUES (?, ?, ?, ?)', [$id, $frame, $lastSeq, strlen($frame)]);
        $this->db->run('UPDATE conns SET last_sent_at = ? WHERE id = ?', [Frames::now(), $id]);
    }

    /** Appends the end marker: after it the transport closes with $code (null: dropped without one). */
    public function appendEnd(string $id, ?int $code, string $reason): void
    {
        $this->db->run('INSERT INTO outbox (conn, frame, end_code, end_reason, bytes) VALUES (?, NULL, ?, ?, 0)', [$id, $code, $reason]);
    }

    /** Removes what the connection had yet to write (a replaced connection's frames are for nobody). */
    public function clearOutbox(string $id): void
    {
        $this->db->run('DELETE FROM outbox WHERE conn = ?', [$id]);
    }

    /** Bytes waiting in the outbox: the connection's backlog (docs/protocol.md §9). */
    public function backlog(string $id): int
    {
        return (int) $this->db->value('SELECT COALESCE(SUM(bytes), 0) FROM outbox WHERE conn = ?', [$id]);
    }

    /**
     * The rows of $id's outbox no poll is writing now, oldest first, at most about $bytes of them
     * (always at least one).
     *
     * @return list<array<string, mixed>>
     */
    public function pending(string $id, int $bytes): array
    {
        $rows = $this->db->rows('SELECT * FROM outbox WHERE conn = ? AND taken_by IS NULL ORDER BY n', [$id]);
        $out = [];
        $total = 0;
        foreach ($rows as $row) {
            if ($out !== [] && $total + $row['bytes'] > $bytes) {
                break;
            }
            $out[] = $row;
            $total += $row['bytes'];
        }
        return $out;
    }

    /** Whether rows of $id's outbox are being written by a poll right now. */
    public function inFlight(string $id): bool
    {
        return $this->db->value('SELECT 1 FROM outbox WHERE conn = ? AND taken_by IS NOT NULL LIMIT 1', [$id]) !== null;
    }

    /** @param list<int> $numbers */
    public function deleteRows(array $numbers): void
    {
        foreach (array_chunk($numbers, 500) as $chunk) {
            $this->db->run('DELETE FROM outbox WHERE n IN (' . implode(',', array_fill(0, count($chunk), '?')) . ')', $chunk);
        }
    }

    /** Marks rows as being written by poll $pollId (another poll leaves them alone). @param list<int> $numbers */
    public function markTaken(array $numbers, string $pollId): void
    {
        foreach (array_chunk($numbers, 500) as $chunk) {
            $this->db->run(
                'UPDATE outbox SET taken_by = ?, taken_at = ? WHERE n IN (' . implode(',', array_fill(0, count($chunk), '?')) . ')',
                [$pollId, Frames::now(), ...$chunk],
            );
        }
    }

    /** Gives rows back to the queue: the poll writing them found its client gone. */
    public function release(string $pollId): void
    {
        $this->db->run('UPDATE outbox SET taken_by = NULL, taken_at = NULL WHERE taken_by = ?', [$pollId]);
    }
}
