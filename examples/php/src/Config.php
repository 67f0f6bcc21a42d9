<?php
declare(strict_types=1);

namespace Realtime;

/**
 * The server's settings, read from an array (examples/php/config.php). Names and defaults are
 * those of the Node reference server (docs/protocol.md §17) where it has the same setting.
 */
final class Config
{
    /** The endpoint's path, for the HTTP transports and the WebSocket. @default '/realtime' */
    public string $path = '/realtime';
    /** The SQLite file shared by every request and the daemon. @default sys_get_temp_dir()/realtime-php.sqlite */
    public string $database;
    /** `hb` of welcome, ms. @default 25000 */
    public int $heartbeatInterval = 25_000;
    /** ms to receive hello, from the WebSocket upgrade or the request opening the HTTP link. @default 10000 */
    public int $handshakeTimeout = 10_000;
    /** `max` of welcome: largest frame accepted, bytes of UTF-8. @default 1048576 */
    public int $maxMessageBytes = 1_048_576;
    /** ms a session survives without a connection. @default 120000 */
    public int $sessionTtl = 120_000;
    /** Longest a poll is held, ms; a long-poll link unpolled for this + 10 s is dropped. @default 25000 */
    public int $pollTimeout = 25_000;
    /** ms without writing after which a stream link gets a `:` comment. @default 15000 */
    public int $streamHeartbeat = 15_000;
    /** Sessions per client address (connected or awaiting resume). @default 100 */
    public int $maxSessionsPerIp = 100;
    /** Connections per client address still waiting for their hello. @default 100 */
    public int $maxPendingPerIp = 100;
    /** Replay buffer bound per session, messages. @default 10000 */
    public int $replayMaxMessages = 10_000;
    /** Replay buffer bound per session, bytes of payload JSON. @default 8388608 */
    public int $replayMaxBytes = 8_388_608;
    /** Replay of all sessions together, JSON bytes + 64 per message. @default 134217728 */
    public int $maxTotalReplayBytes = 134_217_728;
    /** Bytes waiting on a connection above which messages wait and leave later as one frame. @default 1048576 */
    public int $backpressureThreshold = 1_048_576;
    /**
     * How often a held poll, a stream and the daemon look for news, ms: each look reads one
     * number from SQLite's shared memory (about a microsecond), and only when it moved the rows
     * of their own connections. This is the most a message waits in the database. @default 25
     */
    public int $waitStep = 25;
    /** Transports served and announced in welcome. @default ['websocket', 'sse', 'fetch-stream', 'long-poll'] */
    public array $transports = ['websocket', 'sse', 'fetch-stream', 'long-poll'];
    /**
     * Origins allowed, or null for all (development only). 'self' allows the origin of the
     * request's own Host (same-origin pages behind any host name). A request without an Origin
     * header is admitted on every transport, WebSocket included (§12): browsers always send one
     * from another site; a client without one (Node, a native app) is for authenticate to judge.
     * @default null
     */
    public ?array $allowedOrigins = null;
    /** Addresses of proxies whose X-Forwarded-For names the client (nginx in front of the daemon). @default ['127.0.0.1', '::1'] */
    public array $trustedProxies = ['127.0.0.1', '::1'];
    /** fn(?string $token, array $request): bool; null accepts everyone. Called at every hello. @default null */
    public $authenticate = null;
    /** fn(array $query, Server $rt): ?string, a reason to refuse this request with 503, or null (the demo's simulated outages). @default null */
    public $gate = null;
    /** The application: what the server does with messages. */
    public Application $app;

    public function __construct(array $settings)
    {
        $this->database = sys_get_temp_dir() . '/realtime-php.sqlite';
        foreach ($settings as $name => $value) {
            if (!property_exists($this, $name)) {
                throw new RealtimeError('config', "unknown setting '$name' (see examples/php/src/Config.php)");
            }
            $this->$name = $value;
        }
        if (!isset($this->app)) {
            throw new RealtimeError('config', "no 'app': set it to an object implementing Realtime\\Application");
        }
        if ($this->maxMessageBytes < 256) {
            throw new RealtimeError('config', 'maxMessageBytes must be at least 256');
        }
    }

    /**
     * examples/php/config.php, with the file named by the REALTIME_CONFIG environment variable
     * (if any) laid over it: how tests and deployments change settings without editing it.
     */
    public static function load(string $defaults): self
    {
        $settings = require $defaults;
        $override = getenv('REALTIME_CONFIG');
        if (is_string($override) && $override !== '') {
            if (!is_readable($override)) {
                throw new RealtimeError('config', "REALTIME_CONFIG names $override, which cannot be read: create it (it returns an array of settings) or unset REALTIME_CONFIG");
            }
            $settings = array_merge($settings, require $override);
        }
        return new self($settings);
    }
}
