<?php
declare(strict_types=1);

namespace Realtime\Http;

use Realtime\Frames;
use Realtime\Server;

/**
 * One poll of a long-poll link (docs/protocol.md §14.4): its body is handled, then the request
 * is held until a frame is queued for the link, a newer poll takes over, or min(wait,
 * pollTimeout) passes; the answer is every queued frame. A poll holds its worker while it waits
 * (as a stream does), sleeping waitStep ms between looks at SQLite's data_version.
 *
 * PHP learns that a client is gone only when a write fails, and the first write after a client
 * left usually succeeds. So a non-empty answer is written, then a blank line a moment later;
 * only if both went out do its frames count as delivered. Otherwise they stay queued for the
 * next poll (§14.4 point 1). Clients ignore blank lines in a poll answer.
 */
final class PollLink
{
    /** The pause before the blank line that tells whether the answer reached a live connection. */
    private const PROBE_DELAY_US = 2_000;

    public function __construct(private readonly Server $rt)
    {
    }

    /** @param list<string> $texts */
    public function serve(string $link, int $wait, array $texts, ?string $bearer, array $request): void
    {
        set_time_limit(0);
        ignore_user_abort(true);
        $pollId = Frames::randomId();
        $outcome = $this->rt->beginPoll($link, $pollId, $wait, $texts, $bearer, $request);
        if ($outcome === 'unknown') {
            Reply::text(404, 'unknown link');
            return;
        }
        if ($outcome === 'stream') {
            Reply::text(400, 'wait on a stream link');
            return;
        }
        $this->hold($link, $pollId, Frames::now() + min($wait, $this->rt->config->pollTimeout));
        $this->answer($link, $pollId);
    }

    private function hold(string $link, string $pollId, int $deadline): void
    {
        $store = $this->rt->store;
        $step = $this->rt->config->waitStep;
        $version = null;
        $due = 0;
        for (;;) {
            $now = Frames::now();
            if ($now >= $due) {
                $due = $this->rt->timers->tick($link) ?? $now + 1000;
                $version = null;
            }
            $current = $store->dataVersion();
            if ($current !== $version) {
                $version = $current;
                $conn = $this->rt->conns->get($link);
                if ($conn === null || $conn['poll_id'] !== $pollId) {
                    return; // forgotten, or a newer poll took over: answer with what is queued
                }
                if ($store->value('SELECT 1 FROM outbox WHERE conn = ? LIMIT 1', [$link]) !== null && !$this->rt->conns->inFlight($link)) {
                    return;
                }
            }
            if ($now >= $deadline) {
                return;
            }
            $this->rt->timers->sweepIfDue();
            usleep(min($step, max(1, $deadline - $now)) * 1000);
        }
    }

    private function answer(string $link, string $pollId): void
    {
        $rows = $this->rt->takeForPoll($link, $pollId) ?? [];
        // A poll that came while another was writing waits for it: frames leave in order.
        for ($tries = 0; $rows === [] && $this->rt->conns->inFlight($link) && $tries < 200; $tries++) {
            usleep(5_000);
            $rows = $this->rt->takeForPoll($link, $pollId) ?? [];
        }
        $body = '';
        $ended = false;
        foreach ($rows as $row) {
            if ($row['frame'] === null) {
                $ended = true;
                break;
            }
            $body .= $row['frame'] . "\n";
        }
        http_response_code(200);
        header('Content-Type: application/x-ndjson; charset=utf-8');
        header('Cache-Control: no-store');
        Reply::unbuffered();
        $delivered = true;
        if ($body !== '') {
            $delivered = Reply::push($body);
            if ($delivered) {
                usleep(self::PROBE_DELAY_US);
                $delivered = Reply::push("\n");
            }
        }
        if ($rows !== []) {
            $this->rt->finishPoll($link, $pollId, $delivered, $ended);
        }
    }
}
