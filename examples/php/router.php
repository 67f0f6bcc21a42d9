<?php
// Router for PHP's built-in server:
//   PHP_CLI_SERVER_WORKERS=8 php -S 127.0.0.1:8081 examples/php/router.php
// /realtime goes to realtime.php (the HTTP transports); the demo's pages (demo/chat.html and
// what it loads, dist/realtime.min.js) are served as files; anything else is 404. Under
// PHP-FPM, nginx does this routing instead (deploy/nginx.conf).
declare(strict_types=1);

$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) ?: '/';
if ($path === '/realtime') {
    require __DIR__ . '/realtime.php';
    return true;
}

$root = dirname(__DIR__, 2);
$files = [
    '/' => 'demo/chat.html',
    '/chat.html' => 'demo/chat.html',
    '/chat.js' => 'demo/chat.js',
    '/demo.css' => 'demo/demo.css',
    '/dist/realtime.min.js' => 'dist/realtime.min.js',
    '/dist/realtime.min.js.map' => 'dist/realtime.min.js.map',
];
$types = ['html' => 'text/html; charset=utf-8', 'js' => 'text/javascript; charset=utf-8', 'css' => 'text/css; charset=utf-8', 'map' => 'application/json'];
$file = isset($files[$path]) ? "$root/{$files[$path]}" : null;
if ($file === null || !is_file($file)) {
    http_response_code(404);
    header('Content-Type: text/plain; charset=utf-8');
    echo $file === null ? "Not found\n" : "Not built: run `npm run build` first\n";
    return true;
}
header('Content-Type: ' . $types[pathinfo($file, PATHINFO_EXTENSION)]);
header('Cache-Control: no-store');
header('X-Content-Type-Options: nosniff');
header("Content-Security-Policy: default-src 'self'; script-src 'self'; connect-src 'self' ws: wss:; style-src 'self'; img-src 'self' data:");
readfile($file);
return true;
