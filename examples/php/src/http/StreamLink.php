<?php
declare(strict_types=1);

namespace Realtime\Http;

use Realtime\Frames;
use Realtime\Server;
use Realtime\Timers;

/**
 * A stream link (docs/protocol.md §14.2, `sse` and `fetch-stream`): one long response in
 * text/event-stream framing, written by this request for as long as the link lives. The request
 * is the link's holder: it writes the link's outbox, runs its timers, and renews its sign of life
 * so that a killed worker's link is dropped by the sweep.
 *
 * It waits by sleeping waitStep ms and reading SQLite's data_version (about a microsecond); the
 * outbox is read only when that number moved. PHP learns that the client left only when a write
 * fails, so the `:` comment of streamHeartbeat (and the protocol's ping) is also how a dead
 * stream is noticed: until then it holds its worker.
 */
final class StreamLink
{
    /** Outbox bytes taken per look: a slow client leaves the rest in the database (§9 backpressure). */
    private const TAKE_BYTES = 65_536;

    public function __construct(private readonly Server $rt)
    {
    }

    public function serve(string $ip): void
    {
        $holder = 'stream:' . Frames::randomId();
        $link = $this->rt->open('stream', $ip, $holder);
        set_time_limit(0);
        ignore_user_abort(true);
        http_response_code(200);
        header('Content-Type: text/event-stream; charset=utf-8');
        header('Cache-Control: no-cache, no-transform');
        header('X-Accel-Buffering: no');
        Reply::unbuffered();
        // ":ok" is the first byte: a client that does not get it soon knows a proxy buffers (§14.2 rule 2).
        if (!Reply::push(":ok\n\n" . 'data: ' . Frames::encode(['t' => 'link', 'id' => $link]) . "\n\n")) {
            $this->rt->drop($link);
            return;
        }
        $this->loop($link, $holder);
    }

    private function loop(string $link, string $holder): void
    {
        $config = $this->rt->config;
        $store = $this->rt->store;
        $wroteAt = $renewedAt = Frames::now();
        $due = $wroteAt + min($config->handshakeTimeout, $config->heartbeatInterval);
        $version = null;
        for (;;) {
            $now = Frames::now();
            if ($now >= $due) {
                $due = $this->rt->timers->tick($link) ?? $now + 1000;
                $version = null; // the tick may have queued a ping or a close
            }
            $current = $store->dataVersion();
            if ($current !== $version) {
                $version = $current;
                if ($store->value('SELECT 1 FROM conns WHERE id = ?', [$link]) === null) {
                    return; // dropped by the sweep or replaced and forgotten
                }
                if ($store->value('SELECT 1 FROM outbox WHERE conn = ? LIMIT 1', [$link]) !== null) {
                    [$alive, $ended] = $this->write($link);
                    $wroteAt = Frames::now();
                    if ($ended) {
                        $this->rt->forget($link);
                        return;
                    }
                    if (!$alive) {
                        $this->rt->drop($link);
                        return;
                    }
                }
            }
            if ($now - $wroteAt >= $config->streamHeartbeat) {
                $wroteAt = $now;
                if (!Reply::push(":\n\n")) {
                    $this->rt->drop($link);
                    return;
                }
            }
            if ($now - $renewedAt >= Timers::RENEW_MS) {
                $renewedAt = $now;
                $this->rt->timers->renew($holder);
            }
            $this->rt->timers->sweepIfDue();
            usleep($config->waitStep * 1000);
        }
    }

    /** Writes the link's outbox as events. @return array{bool, bool} [client still there, end marker reached] */
    private function write(string $link): array
    {
        $rows = $this->rt->takeForHolder($link, self::TAKE_BYTES) ?? [];
        $out = '';
        $ended = false;
        foreach ($rows as $row) {
            if ($row['frame'] === null) {
                $ended = true;
                break;
            }
            // A msg event carries the seq of its last message as id: (§14.2 rule 3).
            $out .= ($row['last_seq'] !== null ? "id: {$row['last_seq']}\n" : '') . "data: {$row['frame']}\n\n";
        }
        $alive = $out === '' || Reply::push($out);
        return [$alive, $ended];
    }
}
