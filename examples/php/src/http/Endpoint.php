<?php
declare(strict_types=1);

namespace Realtime\Http;

use Realtime\Frames;
use Realtime\Net;
use Realtime\Server;

/**
 * The HTTP side of {path} (docs/protocol.md §14): routes a request by method and query to a
 * stream link, a long-poll link, a POST of frames or a poll, with the Origin check and CORS of
 * §14.6 and the statuses of §14.7. One request, one call of handle(); under PHP's built-in
 * server or PHP-FPM alike.
 */
final class Endpoint
{
    /** A body may carry at most this many frames (§14.3). */
    private const MAX_FRAMES = 1000;

    public function __construct(private readonly Server $rt)
    {
    }

    public function handle(): void
    {
        $config = $this->rt->config;
        $method = $_SERVER['REQUEST_METHOD'] ?? 'GET';
        $query = $_GET;
        $origin = $_SERVER['HTTP_ORIGIN'] ?? null;
        $this->rt->timers->sweepIfDue();
        if ($config->gate !== null && is_string($why = ($config->gate)($query, $this->rt))) {
            Reply::text(503, $why, ['Retry-After' => '1']);
            return;
        }
        if (is_string($origin)) {
            // Even on a refusal, so browser code can read the 403 and stop (§14.6).
            header("Access-Control-Allow-Origin: $origin");
            header('Vary: Origin');
            $secure = ($_SERVER['HTTPS'] ?? '') === 'on' || ($_SERVER['HTTP_X_FORWARDED_PROTO'] ?? '') === 'https';
            if (!Net::originAllowed($config, $origin, $this->host($secure), $secure)) {
                Reply::text(403, 'origin not allowed');
                return;
            }
        }
        match ($method) {
            'OPTIONS' => $this->preflight(),
            'GET' => $this->open($query['transport'] ?? null),
            'POST' => $this->post($query),
            default => Reply::text(405, 'method not allowed', ['Allow' => 'GET, POST, OPTIONS']),
        };
    }

    private function preflight(): void
    {
        header('Access-Control-Allow-Methods: GET, POST');
        header('Access-Control-Allow-Headers: Content-Type, Authorization, Last-Event-ID');
        header('Access-Control-Max-Age: 600');
        Reply::noContent();
    }

    private function open(mixed $transport): void
    {
        $offered = $this->rt->config->transports;
        if (!is_string($transport) || !in_array($transport, ['websocket', 'sse', 'fetch-stream', 'long-poll'], true)) {
            Reply::text(400, 'transport missing or unknown');
            return;
        }
        if (!in_array($transport, $offered, true)) {
            Reply::text(400, 'transport not offered');
            return;
        }
        if ($transport === 'websocket') {
            Reply::text(400, 'transport=websocket needs a WebSocket upgrade');
            return;
        }
        $ip = $this->clientIp();
        if ($this->rt->conns->pendingFrom($ip) >= $this->rt->config->maxPendingPerIp) {
            $seconds = (string) max(1, intdiv($this->rt->config->handshakeTimeout, 1000));
            Reply::text(429, 'too many connections waiting for their hello', ['Retry-After' => $seconds]);
            return;
        }
        if ($transport !== 'long-poll') {
            (new StreamLink($this->rt))->serve($ip);
            return;
        }
        $link = $this->rt->open('poll', $ip);
        http_response_code(200);
        header('Content-Type: application/x-ndjson; charset=utf-8');
        header('Cache-Control: no-store');
        echo Frames::encode(['t' => 'link', 'id' => $link]), "\n";
    }

    private function post(array $query): void
    {
        $link = $query['link'] ?? null;
        if (!is_string($link) || $link === '') {
            Reply::text(400, 'missing link');
            return;
        }
        $wait = $query['wait'] ?? null;
        if ($wait !== null && (!is_string($wait) || !preg_match('/^\d{1,9}$/', $wait))) {
            Reply::text(400, 'bad wait');
            return;
        }
        $texts = $this->frames($link);
        if ($texts === null) {
            return;
        }
        $bearer = $this->bearer();
        $request = ['ip' => $this->clientIp(), 'origin' => $_SERVER['HTTP_ORIGIN'] ?? null, 'headers' => $this->headers()];
        if ($wait !== null) {
            (new PollLink($this->rt))->serve($link, (int) $wait, $texts, $bearer, $request);
            return;
        }
        match ($this->rt->receive($link, $texts, $bearer, $request)) {
            'unknown' => Reply::text(404, 'unknown link'),
            'ended' => Reply::text(404, 'link ended'),
            default => Reply::noContent(),
        };
    }

    /**
     * The body's frames, one a line, blank lines skipped (§14.3); null after answering 413 for a
     * body over 4 × max or over 1000 frames, whose link is closed with 4413 and none of whose
     * frames is handled. PHP hands a script the body only once it has all of it: a request
     * aborted half-way never gets here.
     *
     * @return list<string>|null
     */
    private function frames(string $link): ?array
    {
        $limit = 4 * $this->rt->config->maxMessageBytes;
        $length = (int) ($_SERVER['CONTENT_LENGTH'] ?? 0);
        $body = $length > $limit ? '' : (string) file_get_contents('php://input', false, null, 0, $limit + 1);
        $texts = [];
        $tooLarge = $length > $limit || strlen($body) > $limit;
        if (!$tooLarge) {
            foreach (explode("\n", $body) as $line) {
                if (trim($line) !== '') {
                    $texts[] = $line;
                }
            }
        }
        if (!$tooLarge && count($texts) <= self::MAX_FRAMES) {
            return $texts;
        }
        $this->rt->fail($link, 4413, $tooLarge ? "request body over $limit bytes" : 'request body over ' . self::MAX_FRAMES . ' frames');
        Reply::text(413, 'request body too large', ['Connection' => 'close']);
        return null;
    }

    /** The token of `Authorization: Bearer <token>`, if any (§4: hello.token wins over it). */
    private function bearer(): ?string
    {
        $header = $_SERVER['HTTP_AUTHORIZATION'] ?? '';
        return preg_match('/^Bearer\s+(\S+)$/i', $header, $m) ? $m[1] : null;
    }

    /**
     * The Host the page was loaded from. Debian's fastcgi_params passes nginx's $host, which
     * drops the port: put back the port the request came to, unless it is the scheme's own.
     */
    private function host(bool $secure): string
    {
        $host = (string) ($_SERVER['HTTP_HOST'] ?? '');
        $port = (string) ($_SERVER['SERVER_PORT'] ?? '');
        $hasPort = preg_match('/:\d+$/', $host) === 1 && !str_ends_with($host, ']');
        if ($host === '' || $hasPort || $port === '' || $port === ($secure ? '443' : '80')) {
            return $host;
        }
        return "$host:$port";
    }

    private function clientIp(): string
    {
        return Net::clientIp($this->rt->config, (string) ($_SERVER['REMOTE_ADDR'] ?? ''), $_SERVER['HTTP_X_FORWARDED_FOR'] ?? null);
    }

    /** @return array<string, string> request headers by lower-case name (the Authorization header left out) */
    private function headers(): array
    {
        $headers = [];
        foreach ($_SERVER as $name => $value) {
            if (is_string($name) && str_starts_with($name, 'HTTP_') && $name !== 'HTTP_AUTHORIZATION' && is_string($value)) {
                $headers[strtolower(str_replace('_', '-', substr($name, 5)))] = $value;
            }
        }
        return $headers;
    }
}
