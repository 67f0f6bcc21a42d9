// `npm run demo:php`: the demo chat (demo/chat.html) on the PHP server, with nothing but PHP:
// PHP's built-in server (router.php, 8 workers) on an internal port, and ws-daemon.php on the
// public one, serving WebSocket itself and relaying every other request to php -S. Prints the
// URL; Ctrl-C stops both. PORT picks the port (default 8080, or the next free one).
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const php = process.env.PHP ?? 'php';

const check = spawnSync(php, ['-r', 'exit(PHP_VERSION_ID >= 80200 && extension_loaded("pdo_sqlite") ? 0 : 3);']);
if (check.error || check.status !== 0) {
  console.error(
    check.error
      ? `No \`${php}\` found. The PHP demo needs PHP 8.2 with pdo_sqlite: on Debian/Ubuntu \`sudo apt-get install php-cli php-sqlite3\`.`
      : `\`${php}\` is not PHP 8.2+ with pdo_sqlite: on Debian/Ubuntu \`sudo apt-get install php-cli php-sqlite3\`.`,
  );
  process.exit(1);
}

const database = join(tmpdir(), `realtime-php-demo-${process.pid}.sqlite`);
const env = { ...process.env, REALTIME_DB: database };
const children = [];

/** A port that was free on 127.0.0.1 a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Starts `args` with php; resolves with the first output line matching `ready`, rejects if it exits first. */
function start(name, args, extraEnv, ready) {
  // Its own process group: php -S forks its workers, and Ctrl-C must stop them all.
  const child = spawn(php, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  return new Promise((resolve, reject) => {
    const lines = [];
    const onLine = (line) => {
      lines.push(line);
      if (ready.test(line)) resolve(line);
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}):\n${lines.join('\n')}`)));
  });
}

const internal = await freePort();
await start(
  'php -S',
  ['-S', `127.0.0.1:${internal}`, join(here, 'router.php')],
  { PHP_CLI_SERVER_WORKERS: '8' },
  /Development Server .* started/,
);

const first = Number(process.env.PORT) || 8080;
let port;
for (let candidate = first; candidate < first + 20 && port === undefined; candidate++) {
  try {
    await start(
      'ws-daemon.php',
      [join(here, 'ws-daemon.php'), `--listen=127.0.0.1:${candidate}`, `--http-upstream=127.0.0.1:${internal}`],
      {},
      /listening on/,
    );
    port = candidate;
  } catch (err) {
    if (!/cannot listen/.test(err.message)) throw err;
    console.log(`Port ${candidate} is busy, trying ${candidate + 1}`);
  }
}
if (port === undefined) throw new Error(`no free port from ${first} to ${first + 19}`);
console.log(`PHP demo running at http://localhost:${port}/chat.html`);
console.log(`(php -S on 127.0.0.1:${internal}, ws-daemon.php on ${port}, sessions in ${database})`);

function stop() {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // Its process group has already exited.
    }
  }
  rmSync(database, { force: true });
  for (const suffix of ['-wal', '-shm']) rmSync(database + suffix, { force: true });
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
