<?php
declare(strict_types=1);

namespace Realtime;

/**
 * Client → server after welcome (docs/protocol.md §6, §7, §10, §11): messages delivered once
 * and in order, duplicates dropped by sequence number, acks freeing the replay buffer, pings
 * owing one pong, and the client's own close.
 */
final class Inbound
{
    public function __construct(
        private readonly Server $rt,
        private readonly Sessions $sessions,
        private readonly Connections $conns,
    ) {
    }

    /** @param array<string, mixed> $conn the connection (state 'open') @param array<string, mixed> $session its session */
    public function frame(array $conn, array $session, object $frame): void
    {
        $sid = $session['sid'];
        switch ($frame->t) {
            case 'msg':
                $this->msg($conn, $session, $frame);
                return;
            case 'ack':
                $this->ack($session, Frames::int($frame, 'a', true));
                return;
            case 'ping':
                $this->optionalAck($session, $frame);
                $this->conns->update($conn['id'], ['owed' => 'pong']);
                $this->rt->markDirty($sid);
                return;
            case 'pong':
                $this->optionalAck($session, $frame);
                return;
            case 'close':
                $code = Frames::int($frame, 'code', true);
                $reason = Frames::string($frame, 'reason', true);
                // 1000 ends the session; any other code only leaves this connection (§11, §14.5).
                $this->rt->closeConn($conn['id'], null, $reason, $code === 1000 ? 'end' : 'detach', $this->transportCode($code), $code);
                return;
            case 'hello':
                throw new ProtocolError(4400, 'a second hello on this connection');
            case 'welcome':
                throw new ProtocolError(4400, 'welcome is the server\'s frame');
            default:
                throw new ProtocolError(4400, 'unknown frame type ' . Frames::typeName($frame));
        }
    }

    /** @param array<string, mixed> $conn @param array<string, mixed> $session */
    private function msg(array $conn, array $session, object $frame): void
    {
        $seq = Frames::int($frame, 's', true, 1);
        if (!property_exists($frame, 'd') || !is_array($frame->d) || $frame->d === [] || !array_is_list($frame->d)) {
            throw new ProtocolError(4400, 'msg.d must be a non-empty array');
        }
        $this->optionalAck($session, $frame);
        $received = $session['received'];
        if ($seq > $received + 1) {
            throw new ProtocolError(4400, 'sequence gap: expected at most ' . ($received + 1) . ", got $seq");
        }
        $sid = $session['sid'];
        $handle = $this->rt->session($sid);
        foreach ($frame->d as $i => $data) {
            $n = $seq + $i;
            if ($n <= $received) {
                continue; // a duplicate, resent after a resume (§6)
            }
            // Recorded before the application sees it, in the same transaction: both commit or neither.
            $this->sessions->update($sid, ['received' => $n]);
            $received = $n;
            $this->rt->event(fn (Application $app) => $app->onMessage($handle, $data, $n));
            $now = $this->sessions->get($sid);
            if ($now === null || $now['conn'] !== $conn['id']) {
                return; // the application ended or disconnected the session: the rest is not for it
            }
        }
        $this->rt->markDirty($sid);
    }

    /** @param array<string, mixed> $session */
    private function optionalAck(array $session, object $frame): void
    {
        $ack = Frames::int($frame, 'a', false);
        if ($ack !== null) {
            $this->ack($session, $ack);
        }
    }

    /** §7: a cumulative ack frees the replay buffer; one from the future is a protocol error. */
    private function ack(array $session, int $ack): void
    {
        $session = $this->sessions->get($session['sid']) ?? $session;
        if ($ack > $session['sent_max']) {
            throw new ProtocolError(4400, "ack $ack is beyond the last message sent ({$session['sent_max']})");
        }
        if ($ack > $session['peer_acked']) {
            $this->sessions->dropReplayUpTo($session['sid'], $ack);
            $this->sessions->update($session['sid'], ['peer_acked' => $ack]);
        }
    }

    /** The WebSocket close code answering a client's close frame: its own, when a server may send it. */
    private function transportCode(int $code): int
    {
        return $code === 1000 || ($code >= 3000 && $code <= 4999) ? $code : 1000;
    }
}
