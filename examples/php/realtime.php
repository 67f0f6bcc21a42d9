<?php
// The HTTP transports (SSE, fetch-stream, long-poll) at {path}: PHP-FPM runs this script for
// every request to /realtime (deploy/nginx.conf), PHP's built-in server through router.php.
declare(strict_types=1);

require __DIR__ . '/src/autoload.php';

$server = new Realtime\Server(Realtime\Config::load(__DIR__ . '/config.php'));
(new Realtime\Http\Endpoint($server))->handle();
