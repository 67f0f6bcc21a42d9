<?php
declare(strict_types=1);

namespace Realtime\Http;

/** Writing responses under any SAPI (the built-in server, FPM): status, headers, no output buffering. */
final class Reply
{
    /** Every error response: a status and a short text/plain reason (docs/protocol.md §14.7). */
    public static function text(int $status, string $reason, array $headers = []): void
    {
        http_response_code($status);
        header('Content-Type: text/plain; charset=utf-8');
        header('Cache-Control: no-store');
        foreach ($headers as $name => $value) {
            header("$name: $value");
        }
        echo $reason, "\n";
    }

    public static function noContent(): void
    {
        http_response_code(204);
    }

    /**
     * From here on every echo goes straight to the client: PHP's output buffers (FPM has one of
     * 4 KiB by default) and compression would hold bytes back from a stream or a poll answer.
     */
    public static function unbuffered(): void
    {
        @ini_set('zlib.output_compression', '0');
        @ini_set('implicit_flush', '1');
        while (ob_get_level() > 0) {
            ob_end_flush();
        }
    }

    /** Sends what was echoed; false once PHP learned that the client is gone. */
    public static function push(string $bytes): bool
    {
        echo $bytes;
        flush();
        return connection_aborted() === 0;
    }
}
