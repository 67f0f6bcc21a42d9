<?php
declare(strict_types=1);

namespace Realtime\Ws;

use Realtime\Frames;
use Realtime\Net;
use Realtime\Server;

/**
 * One client socket of the daemon: its HTTP upgrade (RFC 6455 §4), then its messages
 * (fragments joined, ping answered with pong, close answered with close, text handed to the
 * protocol, binary refused), and the bytes waiting to be written to it.
 */
final class Peer
{
    /** The upgrade request may be at most this long. */
    private const MAX_HEAD = 8192;
    /** After our close frame, how long the client has to answer it before the socket is closed. */
    private const CLOSE_WAIT_MS = 2000;

    /** 'http' (reading the upgrade) | 'open' | 'closing' (close frame sent) | 'closed' */
    public string $state = 'http';
    /** The protocol connection's id, once upgraded. */
    public ?string $conn = null;
    public int $openedAt;
    /** When its timers are next due. */
    public int $due;
    public string $out = '';
    /** When the write buffer last shrank (or was empty): a client that stops reading is closed (§10). */
    public int $progressAt;
    private string $in = '';
    private ?int $fragmentType = null;
    private string $fragments = '';
    private int $closingAt = 0;
    /** @var array{ip: string, origin: ?string, headers: array<string, string>} */
    private array $request = ['ip' => '', 'origin' => null, 'headers' => []];

    /** @param resource $socket */
    public function __construct(
        public readonly mixed $socket,
        private readonly Server $rt,
        private readonly string $holder,
        private readonly ?string $upstream,
    ) {
        $this->openedAt = $this->progressAt = Frames::now();
        $this->due = $this->openedAt + 10_000;
    }

    /**
     * Reads what arrived. Returns the text messages to hand to the protocol, or a Relay when
     * this connection turned out to be plain HTTP for the upstream server.
     *
     * @return list<string>|Relay
     */
    public function read(): array|Relay
    {
        $data = @fread($this->socket, 65536);
        if ($data === false || ($data === '' && feof($this->socket))) {
            $this->lost();
            return [];
        }
        $this->in .= $data;
        if ($this->state === 'http') {
            $relay = $this->upgrade();
            if ($relay !== null || $this->state !== 'open') {
                return $relay ?? [];
            }
        }
        $texts = [];
        try {
            while ($this->state !== 'closed' && ($frame = Codec::take($this->in, $this->rt->config->maxMessageBytes)) !== null) {
                $text = $this->message(...$frame);
                if ($text !== null) {
                    $texts[] = $text;
                }
            }
        } catch (WsFailure $e) {
            $this->in = '';
            // What arrived before the fault is handled first, in order.
            if ($texts !== [] && $this->conn !== null) {
                $this->rt->receive($this->conn, $texts, null, $this->request);
            }
            $texts = [];
            $this->fault($e);
        }
        return $texts;
    }

    public function request(): array
    {
        return $this->request;
    }

    /** Queues a text message (a protocol frame). */
    public function sendText(string $frame): void
    {
        $this->queue(Codec::frame(Codec::TEXT, $frame));
    }

    /** Starts the closing handshake with $code (null: no close frame, the socket just closes). */
    public function closeWith(?int $code, string $reason): void
    {
        if ($this->state === 'closing' || $this->state === 'closed') {
            return;
        }
        if ($code === null) {
            $this->out = '';
            $this->shut();
            return;
        }
        $this->queue(Codec::close($code, $reason));
        $this->state = 'closing';
        $this->closingAt = Frames::now();
    }

    /** Writes what it can; closes the socket once a close handshake is done or overdue. */
    public function flush(): void
    {
        if ($this->out !== '') {
            $n = @fwrite($this->socket, $this->out);
            if ($n === false) {
                $this->lost();
                return;
            }
            if ($n > 0) {
                $this->out = substr($this->out, $n);
                $this->progressAt = Frames::now();
            }
        } else {
            $this->progressAt = Frames::now();
        }
        if ($this->state === 'closing' && $this->out === '' && Frames::now() - $this->closingAt > self::CLOSE_WAIT_MS) {
            $this->shut();
        }
    }

    public function closed(): bool
    {
        return $this->state === 'closed';
    }

    /** A WebSocket message or control frame; returns a complete text message, if any. */
    private function message(bool $fin, int $opcode, string $payload): ?string
    {
        $max = $this->rt->config->maxMessageBytes;
        switch ($opcode) {
            case Codec::PING:
                $this->queue(Codec::frame(Codec::PONG, $payload));
                return null;
            case Codec::PONG:
                return null;
            case Codec::CLOSE:
                $this->peerClosed($payload);
                return null;
            case Codec::CONTINUATION:
                if ($this->fragmentType === null) {
                    throw new WsFailure(1002, 'continuation without a message to continue');
                }
                break;
            default:
                if ($this->fragmentType !== null) {
                    throw new WsFailure(1002, 'a new message inside a fragmented one');
                }
                $this->fragmentType = $opcode;
        }
        $this->fragments .= $payload;
        if (strlen($this->fragments) > $max) {
            throw new WsFailure(4413, "message over max $max bytes");
        }
        if (!$fin) {
            return null;
        }
        [$type, $text] = [$this->fragmentType, $this->fragments];
        [$this->fragmentType, $this->fragments] = [null, ''];
        if ($type === Codec::BINARY) {
            throw new WsFailure(4400, 'binary message: frames are JSON text');
        }
        return $this->state === 'open' ? $text : null;
    }

    /** The client's close frame: answer it, tell the protocol (1000 ends the session, §5). */
    private function peerClosed(string $payload): void
    {
        $code = strlen($payload) >= 2 ? unpack('n', $payload)[1] : 1005;
        $reason = substr($payload, 2);
        if ($this->state === 'open') {
            $this->queue(Codec::close($code === 1005 ? 1000 : $code, ''));
            if ($this->conn !== null) {
                $this->rt->clientClosed($this->conn, $code, $reason);
            }
        }
        $this->state = 'closing';
        $this->closingAt = 0; // the handshake is complete: close once written
    }

    private function fault(WsFailure $e): void
    {
        if ($this->conn !== null && $e->closeCode !== 1002) {
            // The protocol's own codes go through the protocol: close frame, then the same WebSocket code.
            $this->rt->fail($this->conn, $e->closeCode, $e->getMessage());
            return;
        }
        if ($this->conn !== null) {
            $this->rt->drop($this->conn);
            $this->conn = null;
        }
        $this->closeWith($e->closeCode, $e->getMessage());
    }

    /** The socket is gone (or broken) without a close handshake: a link drop. */
    private function lost(): void
    {
        if ($this->conn !== null && $this->state === 'open') {
            $this->rt->drop($this->conn);
        }
        $this->shut();
    }

    private function shut(): void
    {
        if ($this->state !== 'closed') {
            @fclose($this->socket);
        }
        $this->state = 'closed';
    }

    private function queue(string $bytes): void
    {
        if ($this->out === '') {
            $this->progressAt = Frames::now();
        }
        $this->out .= $bytes;
    }

    /** Reads the upgrade request; answers it, or returns a Relay for plain HTTP when an upstream is set. */
    private function upgrade(): ?Relay
    {
        $end = strpos($this->in, "\r\n\r\n");
        if ($end === false) {
            if (strlen($this->in) > self::MAX_HEAD) {
                $this->refuse(431, 'Request Header Fields Too Large');
            }
            return null;
        }
        $lines = explode("\r\n", substr($this->in, 0, $end));
        $head = $this->in;
        $this->in = substr($this->in, $end + 4);
        [$method, $target] = explode(' ', array_shift($lines) ?? '') + ['', ''];
        $headers = [];
        foreach ($lines as $line) {
            [$name, $value] = explode(':', $line, 2) + ['', ''];
            $headers[strtolower(trim($name))] = trim($value);
        }
        $config = $this->rt->config;
        $path = parse_url($target, PHP_URL_PATH);
        $isUpgrade = strtolower($headers['upgrade'] ?? '') === 'websocket' && $method === 'GET';
        if (!$isUpgrade || $path !== $config->path) {
            if ($this->upstream !== null) {
                $this->state = 'closed';
                return new Relay($this->socket, $this->upstream, $head);
            }
            $this->refuse($isUpgrade ? 404 : 400, $isUpgrade ? 'Not Found' : 'Bad Request');
            return null;
        }
        parse_str((string) parse_url($target, PHP_URL_QUERY), $query);
        $ip = Net::clientIp($config, $this->peerAddress(), $headers['x-forwarded-for'] ?? null);
        if ($config->gate !== null && is_string(($config->gate)($query, $this->rt))) {
            $this->refuse(503, 'Service Unavailable');
        } elseif (!in_array('websocket', $config->transports, true)) {
            $this->refuse(403, 'Forbidden');
        } elseif (($headers['sec-websocket-version'] ?? '') !== '13' || strlen(base64_decode($headers['sec-websocket-key'] ?? '', true) ?: '') !== 16) {
            $this->refuse(426, 'Upgrade Required', "Sec-WebSocket-Version: 13\r\n");
        } else {
            $this->accept($headers, $ip);
        }
        return null;
    }

    private function accept(array $headers, string $ip): void
    {
        $this->queue("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
            . Codec::acceptKey($headers['sec-websocket-key']) . "\r\n\r\n");
        $this->state = 'open';
        $origin = $headers['origin'] ?? null;
        unset($headers['authorization']);
        $this->request = ['ip' => $ip, 'origin' => $origin, 'headers' => $headers];
        $config = $this->rt->config;
        // Accept, then close 4403: a refused upgrade looks like a network error to a browser, which retries forever (§12).
        // Only an Origin that is there is judged, as over HTTP (§12): browsers send one with every
        // upgrade; a client without one (Node, a native app) is no page on another site.
        $allowed = $origin === null || Net::originAllowed($config, $origin, $headers['host'] ?? '', false);
        if (!$allowed) {
            $this->sendText(Frames::encode(['t' => 'close', 'code' => 4403, 'reason' => 'origin not allowed']));
            $this->closeWith(4403, 'origin not allowed');
            return;
        }
        if ($this->rt->conns->pendingFrom($ip) >= $config->maxPendingPerIp) {
            $this->sendText(Frames::encode(['t' => 'close', 'code' => 4429, 'reason' => 'too many connections waiting for their hello']));
            $this->closeWith(4429, 'too many connections waiting for their hello');
            return;
        }
        $this->conn = $this->rt->open('websocket', $ip, $this->holder);
        $this->due = Frames::now() + min($config->handshakeTimeout, $config->heartbeatInterval);
    }

    private function refuse(int $status, string $text, string $extra = ''): void
    {
        $this->queue("HTTP/1.1 $status $text\r\nContent-Type: text/plain\r\nContent-Length: " . (strlen($text) + 1) . "\r\nConnection: close\r\n$extra\r\n$text\n");
        $this->state = 'closing';
        $this->closingAt = 0;
    }

    private function peerAddress(): string
    {
        $name = (string) stream_socket_get_name($this->socket, true);
        return trim((string) preg_replace('/:\d+$/', '', $name), '[]');
    }
}
