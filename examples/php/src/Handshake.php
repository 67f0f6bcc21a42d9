<?php
declare(strict_types=1);

namespace Realtime;

/**
 * hello → welcome (docs/protocol.md §4, §5): version, authentication, resume or a new session,
 * the per-address session limit; then the session is attached to the connection, replacing the
 * one it had, and what the client has yet to receive follows the welcome.
 */
final class Handshake
{
    public function __construct(
        private readonly Server $rt,
        private readonly Sessions $sessions,
        private readonly Connections $conns,
        private readonly Config $config,
    ) {
    }

    /**
     * @param array<string, mixed> $conn the connection's row (state 'hello')
     * @param array<string, mixed> $request what the authenticate hook gets: ip, origin, headers of the opening request
     */
    public function hello(array $conn, object $frame, ?string $bearer, array $request): void
    {
        if (!property_exists($frame, 'v') || !is_array($frame->v)) {
            throw new ProtocolError(4400, 'hello.v must be an array of versions');
        }
        $ack = Frames::int($frame, 'a', true);
        $sid = Frames::string($frame, 'sid', false);
        $key = Frames::string($frame, 'key', false);
        $max = Frames::int($frame, 'max', false);
        $token = Frames::string($frame, 'token', false) ?? $bearer;
        if ($max !== null && $max < 256) {
            throw new ProtocolError(4400, 'hello.max is below 256: not even welcome would fit');
        }
        if (!in_array(1, array_filter($frame->v, 'is_int'), true)) {
            throw new ProtocolError(4406, 'no common protocol version: server speaks 1');
        }
        if (!$this->authenticated($token, $request)) {
            throw new ProtocolError(4401, 'unauthorized');
        }
        $maxOut = min($this->config->maxMessageBytes, $max ?? $this->config->maxMessageBytes);
        $session = $sid !== null && $key !== null ? $this->resumable($sid, $key, $ack, $maxOut) : null;
        $resumed = $session !== null;
        if (!$resumed) {
            if ($this->sessions->countFrom($conn['ip']) >= $this->config->maxSessionsPerIp) {
                throw new ProtocolError(4429, 'too many sessions for this address');
            }
            $session = $this->sessions->create($conn['ip'], $maxOut);
        }
        $this->attach($conn, $session, $resumed ? $ack : 0, $maxOut);
        $this->conns->append($conn['id'], Frames::encode([
            't' => 'welcome',
            'v' => 1,
            'sid' => $session['sid'],
            'key' => $session['key'],
            'resumed' => $resumed,
            'a' => $session['received'],
            'hb' => $this->config->heartbeatInterval,
            'max' => $this->config->maxMessageBytes,
            'transports' => array_values($this->config->transports),
        ]));
        $this->rt->markDirty($session['sid']);
        $handle = $this->rt->session($session['sid']);
        $this->rt->event($resumed ? fn (Application $app) => $app->onResume($handle) : fn (Application $app) => $app->onOpen($handle));
    }

    /** The authenticate hook's verdict; an exception inside it is a refusal (§4). */
    private function authenticated(?string $token, array $request): bool
    {
        if ($this->config->authenticate === null) {
            return true;
        }
        try {
            return (bool) ($this->config->authenticate)($token, $request);
        } catch (\Throwable $e) {
            error_log('realtime: the authenticate hook threw ' . get_class($e) . '; refusing the connection');
            return false;
        }
    }

    /**
     * The session to resume, or null when §5's conditions do not all hold (then a new session is
     * made and the old one is left as it was, unless it had expired or cannot ever be resumed).
     *
     * @return array<string, mixed>|null
     */
    private function resumable(string $sid, string $key, int $ack, int $maxOut): ?array
    {
        $session = $this->sessions->get($sid);
        if ($session === null || !hash_equals($session['key'], $key)) {
            return null;
        }
        if ($session['conn'] === null && $session['detached_at'] + $this->config->sessionTtl <= Frames::now()) {
            $this->rt->endSession($sid, 1006, 'session expired');
            return null;
        }
        if ($session['overrun'] || $ack < $session['peer_acked'] || $ack > $session['sent_max']) {
            return null;
        }
        $largest = $this->sessions->largestAfter($sid, $ack);
        if ($largest > 0 && Frames::msgOverhead() + $largest > $maxOut) {
            // The client now takes smaller frames than a message it has yet to get: it could never
            // get past it. End the session so the client learns data was lost (§5).
            $this->rt->endSession($sid, 4413, "a queued message of $largest bytes cannot fit the new hello.max $maxOut");
            return null;
        }
        return $session;
    }

    /** @param array<string, mixed> $conn @param array<string, mixed> $session */
    private function attach(array $conn, array $session, int $ack, int $maxOut): void
    {
        $sid = $session['sid'];
        if ($session['conn'] !== null && $session['conn'] !== $conn['id']) {
            $this->rt->replace($session['conn']);
        }
        if ($ack > $session['peer_acked']) {
            $this->sessions->dropReplayUpTo($sid, $ack);
        }
        $this->sessions->update($sid, [
            'conn' => $conn['id'],
            'detached_at' => null,
            'max_out' => $maxOut,
            'peer_acked' => max($session['peer_acked'], $ack),
        ]);
        $this->conns->update($conn['id'], [
            'state' => 'open',
            'sid' => $sid,
            'written' => $ack,
            'ack_sent' => $session['received'],
            'owed' => null,
            'max_out' => $maxOut,
        ]);
    }
}
