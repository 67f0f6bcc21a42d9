<?php
// The WebSocket daemon: php examples/php/ws-daemon.php [--listen=127.0.0.1:8090] [--http-upstream=127.0.0.1:8081]
//
// --listen         address to listen on (port 0: any free port; the line it prints says which)
// --http-upstream  development only: relay every connection that is not a WebSocket upgrade of
//                  {path} to PHP's built-in server there, so one port serves everything (in
//                  production nginx routes instead: deploy/nginx.conf)
//
// Settings come from config.php (and REALTIME_CONFIG), as for the HTTP endpoint: both must use
// the same database file. SIGTERM or SIGINT: close frames 1001, the sessions stay resumable.
declare(strict_types=1);

require __DIR__ . '/src/autoload.php';

$options = getopt('', ['listen:', 'http-upstream:', 'help']);
if (isset($options['help'])) {
    echo "usage: php ws-daemon.php [--listen=HOST:PORT] [--http-upstream=HOST:PORT]\n";
    exit(0);
}
$listen = is_string($options['listen'] ?? null) ? $options['listen'] : '127.0.0.1:8090';
$upstream = is_string($options['http-upstream'] ?? null) ? $options['http-upstream'] : null;

$server = new Realtime\Server(Realtime\Config::load(__DIR__ . '/config.php'));
$listener = @stream_socket_server("tcp://$listen", $errno, $error);
if ($listener === false) {
    fwrite(STDERR, "ws-daemon: cannot listen on $listen: $error\n");
    exit(1);
}
$address = (string) stream_socket_get_name($listener, false);
$daemon = new Realtime\Ws\Daemon($server, $listener, $upstream);
if (function_exists('pcntl_async_signals')) {
    pcntl_async_signals(true);
    pcntl_signal(SIGTERM, fn () => $daemon->stop());
    pcntl_signal(SIGINT, fn () => $daemon->stop());
}
echo "ws-daemon: listening on ws://$address{$server->config->path}" . ($upstream ? " (other requests relayed to http://$upstream)" : '') . ' pid ' . getmypid() . "\n";
$daemon->run();
echo "ws-daemon: stopped\n";
