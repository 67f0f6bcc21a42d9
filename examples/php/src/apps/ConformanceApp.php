<?php
declare(strict_types=1);

namespace Realtime\Apps;

use Realtime\Application;
use Realtime\RealtimeError;
use Realtime\Server;
use Realtime\Session;

/**
 * The application contract of docs/conformance.md, so the conformance kit can check this
 * server (examples/conformance-server.mjs is the same on the Node reference server): echo every
 * message; {"cmd":"push","n":N[,"bytes":B]} sends N numbered messages in one event (so they may
 * share a frame); {"cmd":"close","code":C,"reason":R} ends the session with that code.
 */
final class ConformanceApp implements Application
{
    public function start(Server $rt): void
    {
    }

    public function install(Server $rt): void
    {
    }

    public function onOpen(Session $session): void
    {
    }

    public function onMessage(Session $session, mixed $data, int $seq): void
    {
        $cmd = is_object($data) && isset($data->cmd) ? $data->cmd : null;
        if ($cmd === 'push') {
            $n = is_int($data->n ?? null) ? $data->n : 0;
            $bytes = is_int($data->bytes ?? null) ? $data->bytes : 0;
            $pad = str_repeat('x', max(0, min($bytes, 16 * 1024 * 1024)));
            try {
                for ($i = 1; $i <= min($n, 100_000); $i++) {
                    $session->send($bytes > 0 ? ['push' => $i, 'pad' => $pad] : ['push' => $i]);
                }
            } catch (RealtimeError $e) {
                // A push too large for the client's max: not sent (§2); the application goes on serving.
                error_log('conformance app: ' . $e->getMessage());
            }
        } elseif ($cmd === 'close') {
            $code = is_int($data->code ?? null) ? $data->code : 1000;
            $reason = is_string($data->reason ?? null) ? $data->reason : '';
            $session->close($code, $reason);
        } else {
            $session->send(['echo' => $data]);
        }
    }

    public function onDisconnect(Session $session): void
    {
    }

    public function onResume(Session $session): void
    {
    }

    public function onClose(Session $session, int $code, string $reason): void
    {
    }
}
