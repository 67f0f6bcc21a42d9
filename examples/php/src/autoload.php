<?php
declare(strict_types=1);

// No Composer: classes of namespace Realtime live in this folder, Realtime\Http\X in http/X.php,
// Realtime\Ws\X in ws/X.php, Realtime\Apps\X in apps/X.php. Errors.php holds both error classes.
spl_autoload_register(static function (string $class): void {
    if (!str_starts_with($class, 'Realtime\\')) {
        return;
    }
    if ($class === 'Realtime\\RealtimeError' || $class === 'Realtime\\ProtocolError') {
        require_once __DIR__ . '/Errors.php';
        return;
    }
    $parts = explode('\\', substr($class, strlen('Realtime\\')));
    $name = array_pop($parts);
    $dir = implode('/', array_map('strtolower', $parts));
    $file = __DIR__ . ($dir === '' ? '' : "/$dir") . "/$name.php";
    if (is_file($file)) {
        require_once $file;
    }
});
