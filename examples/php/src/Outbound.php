<?php
declare(strict_types=1);

namespace Realtime;

/**
 * Server → client (docs/protocol.md §6-§9): a message gets its sequence number and a place in
 * the replay buffer when the application sends it; flush() later puts what the connection has
 * not carried yet into its outbox as msg frames, each within the client's max, and pays the
 * control frame owed. Nothing is written while the connection's backlog is over the threshold:
 * the process that drains it flushes again, so what waited leaves as one larger frame.
 */
final class Outbound
{
    /** A pong or standalone ack is written only while at most this many bytes wait (§9). */
    private const CONTROL_BACKLOG_BYTES = 4096;

    public function __construct(
        private readonly Server $rt,
        private readonly Sessions $sessions,
        private readonly Connections $conns,
        private readonly Config $config,
    ) {
    }

    /** Queues one message of JSON $json for session $sid; false when the session is over. */
    public function send(string $sid, string $json): bool
    {
        $session = $this->sessions->get($sid);
        if ($session === null) {
            return false;
        }
        $fits = Frames::msgOverhead() + strlen($json) <= $session['max_out'];
        if (!$fits) {
            throw new RealtimeError('too-large', sprintf(
                'a message of %d bytes cannot fit a frame for this client: max %d (the server\'s %d, the client\'s hello.max at most)',
                strlen($json),
                $session['max_out'],
                $this->config->maxMessageBytes,
            ));
        }
        $this->sessions->addReplay($sid, $session['out_seq'] + 1, $json);
        $this->rt->markDirty($sid);
        $this->enforceSessionBounds($sid);
        $this->enforceServerBound();
        return $this->sessions->get($sid) !== null;
    }

    /** Writes what session $sid's connection has yet to carry into its outbox (§9 batching, §7 acks). */
    public function flush(string $sid): void
    {
        $session = $this->sessions->get($sid);
        $conn = $session && $session['conn'] !== null ? $this->conns->get($session['conn']) : null;
        if ($conn === null || $conn['state'] !== 'open') {
            return;
        }
        $id = $conn['id'];
        $received = $session['received'];
        $written = $conn['written'];
        $owed = $conn['owed'];
        $ackSent = $conn['ack_sent'];
        if ($this->conns->backlog($id) <= $this->config->backpressureThreshold) {
            $batch = [];
            $bytes = 0;
            $first = $written + 1;
            foreach ($this->sessions->replayAfter($sid, $written) as $entry) {
                $size = strlen($entry['json']) + ($batch === [] ? 0 : 1);
                if ($batch !== [] && strlen(Frames::msg($first, [], $received)) + $bytes + $size > $conn['max_out']) {
                    $this->conns->append($id, Frames::msg($first, $batch, $received), $first + count($batch) - 1);
                    $first += count($batch);
                    [$batch, $bytes, $size] = [[], 0, strlen($entry['json'])];
                }
                $batch[] = $entry['json'];
                $bytes += $size;
            }
            if ($batch !== []) {
                $this->conns->append($id, Frames::msg($first, $batch, $received), $first + count($batch) - 1);
                $written = $first + count($batch) - 1;
                // A msg frame carries the ack: an owed ack is paid, an owed pong is not.
                $ackSent = $received;
                $owed = $owed === 'ack' ? null : $owed;
            }
        }
        if ($owed === null && $received > $ackSent) {
            // ackDelay is 0 here: flush runs once at the end of each event, after every message of it.
            $owed = 'ack';
        }
        if ($owed !== null && $this->conns->backlog($id) <= self::CONTROL_BACKLOG_BYTES) {
            $this->conns->append($id, Frames::encode(['t' => $owed, 'a' => $received]));
            $ackSent = $received;
            $owed = null;
        }
        // Only a real change is written: waiting processes wake on every commit that changes the file.
        if ($written !== $conn['written'] || $ackSent !== $conn['ack_sent'] || $owed !== $conn['owed']) {
            $this->conns->update($id, ['written' => $written, 'ack_sent' => $ackSent, 'owed' => $owed]);
        }
        if ($written > $session['sent_max']) {
            $this->sessions->update($sid, ['sent_max' => $written]);
        }
    }

    /** §8: drop the oldest messages past the session's bounds; whether that ends the session depends on what was written. */
    private function enforceSessionBounds(string $sid): void
    {
        for (;;) {
            $session = $this->sessions->get($sid);
            if ($session === null || ($session['replay_count'] <= $this->config->replayMaxMessages && $session['replay_bytes'] <= $this->config->replayMaxBytes)) {
                return;
            }
            $oldest = $this->sessions->oldestSeq($sid);
            $conn = $session['conn'] !== null ? $this->conns->get($session['conn']) : null;
            if ($conn === null) {
                // Overrun while detached: the session could never resume.
                $this->rt->endSession($sid, 1006, 'replay buffer overrun');
                return;
            }
            if ($oldest > $conn['written']) {
                $this->rt->endSession($sid, 4500, 'replay buffer overrun: client too slow');
                return;
            }
            $this->sessions->dropReplayUpTo($sid, $oldest);
            $this->sessions->update($sid, ['overrun' => 1]);
        }
    }

    /** §8: the replay of all sessions together is bounded too; the largest holder goes first. */
    private function enforceServerBound(): void
    {
        while ($this->sessions->total() > $this->config->maxTotalReplayBytes) {
            $largest = $this->sessions->largestHolder();
            if ($largest === null) {
                return;
            }
            $this->rt->endSession($largest, 4500, 'server replay memory full');
        }
    }
}
