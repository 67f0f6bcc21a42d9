<?php
declare(strict_types=1);

namespace Realtime;

/**
 * The sessions table and the replay buffers (docs/protocol.md §5, §8): rows, not behaviour.
 * The replay bytes of all sessions together are kept in meta.replay_bytes, each message
 * counting its JSON bytes plus 64, for the server-wide bound.
 */
final class Sessions
{
    private const OVERHEAD = 64;

    public function __construct(private readonly Store $db)
    {
    }

    /** @return array<string, mixed> the new session's row */
    public function create(string $ip, int $maxOut): array
    {
        $sid = Frames::randomId();
        $this->db->run(
            'INSERT INTO sessions (sid, key, ip, max_out, created_at) VALUES (?, ?, ?, ?, ?)',
            [$sid, Frames::randomId(), $ip, $maxOut, Frames::now()],
        );
        return $this->get($sid);
    }

    /** @return array<string, mixed>|null */
    public function get(string $sid): ?array
    {
        return $this->db->row('SELECT * FROM sessions WHERE sid = ?', [$sid]);
    }

    /** @param array<string, mixed> $fields */
    public function update(string $sid, array $fields): void
    {
        $set = implode(', ', array_map(fn ($name) => "$name = ?", array_keys($fields)));
        $this->db->run("UPDATE sessions SET $set WHERE sid = ?", [...array_values($fields), $sid]);
    }

    public function delete(string $sid): void
    {
        $session = $this->get($sid);
        if ($session === null) {
            return;
        }
        $this->db->run('DELETE FROM replay WHERE sid = ?', [$sid]);
        $this->db->run('DELETE FROM sessions WHERE sid = ?', [$sid]);
        $this->addTotal(-($session['replay_bytes'] + self::OVERHEAD * $session['replay_count']));
    }

    public function countFrom(string $ip): int
    {
        return (int) $this->db->value('SELECT COUNT(*) FROM sessions WHERE ip = ?', [$ip]);
    }

    /** Stores message $seq of session $sid. */
    public function addReplay(string $sid, int $seq, string $json): void
    {
        $this->db->run('INSERT INTO replay (sid, seq, json) VALUES (?, ?, ?)', [$sid, $seq, $json]);
        $this->db->run(
            'UPDATE sessions SET out_seq = ?, replay_count = replay_count + 1, replay_bytes = replay_bytes + ? WHERE sid = ?',
            [$seq, strlen($json), $sid],
        );
        $this->addTotal(strlen($json) + self::OVERHEAD);
    }

    /** Drops the messages of $sid with seq ≤ $seq (acknowledged, or the oldest on overrun). */
    public function dropReplayUpTo(string $sid, int $seq): void
    {
        $gone = $this->db->row('SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(CAST(json AS BLOB))), 0) AS bytes FROM replay WHERE sid = ? AND seq <= ?', [$sid, $seq]);
        if ($gone['n'] === 0) {
            return;
        }
        $this->db->run('DELETE FROM replay WHERE sid = ? AND seq <= ?', [$sid, $seq]);
        $this->db->run(
            'UPDATE sessions SET replay_count = replay_count - ?, replay_bytes = replay_bytes - ? WHERE sid = ?',
            [$gone['n'], $gone['bytes'], $sid],
        );
        $this->addTotal(-($gone['bytes'] + self::OVERHEAD * $gone['n']));
    }

    /** @return list<array{seq: int, json: string}> messages of $sid after $seq, in order */
    public function replayAfter(string $sid, int $seq): array
    {
        return $this->db->rows('SELECT seq, json FROM replay WHERE sid = ? AND seq > ? ORDER BY seq', [$sid, $seq]);
    }

    /** Bytes of the largest message of $sid after $seq (0 when none). */
    public function largestAfter(string $sid, int $seq): int
    {
        return (int) $this->db->value('SELECT COALESCE(MAX(LENGTH(CAST(json AS BLOB))), 0) FROM replay WHERE sid = ? AND seq > ?', [$sid, $seq]);
    }

    public function oldestSeq(string $sid): ?int
    {
        $seq = $this->db->value('SELECT MIN(seq) FROM replay WHERE sid = ?', [$sid]);
        return $seq === null ? null : (int) $seq;
    }

    /** Replay bytes of all sessions (JSON bytes + 64 per message). */
    public function total(): int
    {
        return (int) $this->db->value("SELECT value FROM meta WHERE name = 'replay_bytes'");
    }

    /** The session holding the most replay bytes, or null. */
    public function largestHolder(): ?string
    {
        $sid = $this->db->value('SELECT sid FROM sessions WHERE replay_count > 0 ORDER BY replay_bytes + 64 * replay_count DESC LIMIT 1');
        return $sid === null ? null : (string) $sid;
    }

    private function addTotal(int $bytes): void
    {
        $this->db->run("UPDATE meta SET value = value + ? WHERE name = 'replay_bytes'", [$bytes]);
    }
}
