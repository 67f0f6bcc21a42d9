<?php
declare(strict_types=1);

namespace Realtime\Ws;

/**
 * Development only: a client connection that is not a WebSocket upgrade, piped byte for byte
 * to PHP's built-in server (--http-upstream), so one port serves the pages, the HTTP transports
 * and the WebSocket, as nginx does in production. When the client goes, so does the upstream
 * connection, so PHP notices an aborted stream or poll at its next write.
 */
final class Relay
{
    /** @var resource|null null until connect() */
    public $upstream = null;
    /** When connect() ran (ms). */
    public int $connectedAt = 0;
    /** Whether the upstream server has sent anything yet. */
    public bool $answered = false;
    private string $toClient = '';
    private bool $upstreamDone = false;

    /** @param resource $client */
    public function __construct(public readonly mixed $client, private readonly string $address, private string $toUpstream)
    {
    }

    /** Opens the upstream connection; false (after answering 502) when the upstream server is not there. */
    public function connect(): bool
    {
        $upstream = @stream_socket_client("tcp://{$this->address}", $errno, $error, 5);
        $this->connectedAt = (int) floor(microtime(true) * 1000);
        if ($upstream === false) {
            @fwrite($this->client, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 33\r\nConnection: close\r\n\r\nno PHP server at --http-upstream\n");
            @fclose($this->client);
            return false;
        }
        stream_set_blocking($upstream, false);
        $this->upstream = $upstream;
        return true;
    }

    /** @return list<resource> sockets with bytes to write */
    public function writers(): array
    {
        $out = [];
        if ($this->toUpstream !== '') {
            $out[] = $this->upstream;
        }
        if ($this->toClient !== '') {
            $out[] = $this->client;
        }
        return $out;
    }

    /** @return list<resource> */
    public function readers(): array
    {
        return $this->upstreamDone || $this->upstream === null ? [$this->client] : [$this->client, $this->upstream];
    }

    /** Moves bytes; false once the relay is over (both sockets closed). */
    public function pump(array $readable, array $writable): bool
    {
        if (in_array($this->client, $readable, true)) {
            $data = @fread($this->client, 65536);
            if ($data === false || ($data === '' && feof($this->client))) {
                return $this->close(); // the client left: so does the upstream connection
            }
            $this->toUpstream .= $data;
        }
        if (!$this->upstreamDone && in_array($this->upstream, $readable, true)) {
            $data = @fread($this->upstream, 65536);
            if ($data === false || ($data === '' && feof($this->upstream))) {
                $this->upstreamDone = true;
            } else {
                $this->toClient .= $data;
                $this->answered = $this->answered || $data !== '';
            }
        }
        if ($this->toUpstream !== '' && in_array($this->upstream, $writable, true)) {
            $n = @fwrite($this->upstream, $this->toUpstream);
            if ($n === false) {
                return $this->close();
            }
            $this->toUpstream = substr($this->toUpstream, $n);
        }
        if ($this->toClient !== '' && in_array($this->client, $writable, true)) {
            $n = @fwrite($this->client, $this->toClient);
            if ($n === false) {
                return $this->close();
            }
            $this->toClient = substr($this->toClient, $n);
        }
        if ($this->upstreamDone && $this->toClient === '') {
            return $this->close();
        }
        return true;
    }

    public function close(): bool
    {
        if ($this->upstream !== null) {
            @fclose($this->upstream);
        }
        @fclose($this->client);
        return false;
    }
}
