<?php
// Settings of the PHP server: every name and default is in src/Config.php. The file named by
// the REALTIME_CONFIG environment variable, if set, returns an array laid over this one (how the
// tests and a deployment change settings without editing this file).
declare(strict_types=1);

return [
    'database' => getenv('REALTIME_DB') ?: sys_get_temp_dir() . '/realtime-php.sqlite',
    'app' => new Realtime\Apps\ChatApp(),
    // Pages of this host only (the demo's chat.html); add your front end's origins.
    'allowedOrigins' => ['self'],
    'gate' => [Realtime\Apps\ChatApp::class, 'gate'],
];
