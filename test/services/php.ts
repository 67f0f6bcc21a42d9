// The PHP server of examples/php for the tests: its own SQLite file and settings in a temp dir,
// run as a real deployment runs it, each piece our child, stopped by pid with its descendants:
//  - builtin(): `php -S` with PHP_CLI_SERVER_WORKERS (router.php), on a free port;
//  - daemon(): ws-daemon.php on port 0 (it prints the port it got), optionally relaying other
//    requests to the built-in server (--http-upstream), and restartable on the same port;
//  - fpm(): php-fpm with the pool of examples/php/deploy/php-fpm.conf, on a unix socket;
//  - site(): the nginx site of examples/php/deploy/nginx.conf, in front of fpm() and daemon().
// Debian's php-cli, php-sqlite3 (pdo_sqlite must load) and php-fpm are installed with apt-get when
// missing and we are root; otherwise the error says what to install. Never a skip.
//
//   const php = await startPhp({ app: 'conformance', settings: { heartbeatInterval: 1000 } });
//   const http = await php.builtin();  const ws = await php.daemon({ upstream: http.port });
//   ws.url   // http://127.0.0.1:PORT/realtime (pages, HTTP transports and WebSocket on one port)
//   await ws.kill(); await ws.start();   // SIGKILL, then again on the same port
//   await php.query('SELECT * FROM sessions')   // the server's SQLite file, as rows
//   php.logs()   // everything its pieces printed or logged so far (a token must never be there)
//   await php.destroy();
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { aptInstall, canAptInstall, ensureBinary } from './install';
import { HOST, PortInUseError, withFreePorts } from './ports';
import { ManagedProcess } from './process';
import { startNginx, type Nginx } from './nginx';
import { waitFor } from '../wait';

export const PHP_DIR = fileURLToPath(new URL('../../examples/php/', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const run = promisify(execFile);

const PHP_HELP =
  'The PHP server tests need PHP 8.2 with pdo_sqlite: Debian/Ubuntu `sudo apt-get install -y php-cli php-sqlite3` ' +
  '(and php-fpm for the nginx + PHP-FPM test), or run the tests as root on a machine with apt-get, where they install it themselves.';

let checked: Promise<string> | undefined;

/** Path of `php`, with pdo_sqlite loadable: installed with apt-get (php-cli, php-sqlite3) when missing and root. */
export function ensurePhp(): Promise<string> {
  checked ??= (async () => {
    const php = await ensureBinary('php', 'php-cli', PHP_HELP);
    if (await hasPdoSqlite(php)) return php;
    if (!canAptInstall()) throw new Error(`${php} cannot load pdo_sqlite. ${PHP_HELP}`);
    await aptInstall(['php-sqlite3'], 'php');
    if (await hasPdoSqlite(php)) return php;
    throw new Error(`apt-get install php-sqlite3 finished, but ${php} still cannot load pdo_sqlite. ${PHP_HELP}`);
  })();
  checked.catch(() => (checked = undefined));
  return checked;
}

async function hasPdoSqlite(php: string): Promise<boolean> {
  try {
    await run(php, ['-r', 'exit(extension_loaded("pdo_sqlite") ? 0 : 1);']);
    return true;
  } catch {
    return false;
  }
}

/** Debian names its FPM binary after the version (php-fpm8.2): the first php-fpm* in the sbin dirs. */
function findFpm(): string | undefined {
  for (const dir of ['/usr/sbin', '/usr/local/sbin', '/usr/bin']) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    const fpm = names
      .filter((n) => /^php-fpm[\d.]*$/.test(n))
      .sort()
      .pop();
    if (fpm) return join(dir, fpm);
  }
  return undefined;
}

/** Path of php-fpm, installed with apt-get (php-fpm) when missing and root. */
export async function ensurePhpFpm(): Promise<string> {
  await ensurePhp();
  const found = findFpm();
  if (found) return found;
  if (!canAptInstall()) throw new Error(`No php-fpm found. ${PHP_HELP}`);
  await aptInstall(['php-fpm'], 'php-fpm');
  const installed = findFpm();
  if (installed) return installed;
  throw new Error(`apt-get install php-fpm finished, but no php-fpm binary was found. ${PHP_HELP}`);
}

export interface PhpOptions {
  /** The application: the conformance contract (docs/conformance.md) or the demo chat. */
  app: 'conformance' | 'chat';
  /** A token the server accepts (an authenticate hook is set); without it, everyone is accepted. */
  token?: string;
  /** Settings of examples/php/src/Config.php laid over config.php (JSON values). */
  settings?: Record<string, unknown>;
}

/** One ws-daemon.php: `start()` on port 0 the first time, on the same port after that. */
export class PhpDaemon {
  port = 0;
  process: ManagedProcess | undefined;
  /** Every process it ran, restarts included: their output is in logs(). */
  private readonly runs: ManagedProcess[] = [];

  constructor(
    private readonly php: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly upstream: number | undefined,
  ) {}

  /** The endpoint (http://…/realtime); with an upstream, the one URL for pages and every transport. */
  get url(): string {
    return `http://${HOST}:${this.port}/realtime`;
  }

  get pid(): number {
    if (!this.process?.running()) throw new Error('ws-daemon.php is not running');
    return this.process.pid;
  }

  async start(): Promise<void> {
    const args = [
      join(PHP_DIR, 'ws-daemon.php'),
      `--listen=${HOST}:${this.port}`,
      ...(this.upstream ? [`--http-upstream=${HOST}:${this.upstream}`] : []),
    ];
    const proc = new ManagedProcess('ws-daemon.php', this.php, args, { env: this.env });
    this.process = proc;
    this.runs.push(proc);
    const line = await proc.waitForLine(/listening on ws:\/\/[^:]+:(\d+)/, 10_000);
    this.port = Number(/listening on ws:\/\/[^:]+:(\d+)/.exec(line)![1]);
  }

  /** What it printed, every run. */
  output(): string {
    return this.runs.map(output).join('\n');
  }

  /** SIGKILL (a crash): its connections' sessions stay in the database. */
  async kill(): Promise<void> {
    await this.process?.kill();
  }

  async stop(): Promise<void> {
    await this.process?.stop();
  }
}

/** php -S on its port with router.php. */
export class PhpBuiltin {
  constructor(
    readonly port: number,
    readonly process: ManagedProcess,
  ) {}

  get url(): string {
    return `http://${HOST}:${this.port}/realtime`;
  }
}

/** php-fpm with the deploy pool, listening on a unix socket. */
export class PhpFpm {
  constructor(
    readonly socket: string,
    readonly process: ManagedProcess,
    readonly errorLog: string,
  ) {}

  log(): string {
    return readIfThere(this.errorLog);
  }
}

export class PhpStack {
  readonly configFile: string;
  readonly database: string;
  readonly env: NodeJS.ProcessEnv;
  private readonly owned: Array<() => Promise<unknown>> = [];
  private readonly logSources: Array<() => string> = [];

  constructor(
    readonly php: string,
    readonly dir: string,
    options: PhpOptions,
  ) {
    this.database = join(dir, 'realtime.sqlite');
    this.configFile = join(dir, 'config.php');
    writeFileSync(join(dir, 'settings.json'), JSON.stringify({ database: this.database, ...options.settings }));
    const app = options.app === 'chat' ? 'new Realtime\\Apps\\ChatApp()' : 'new Realtime\\Apps\\ConformanceApp()';
    writeFileSync(
      this.configFile,
      `<?php
// Written by test/services/php.ts for one test.
$settings = json_decode(file_get_contents(__DIR__ . '/settings.json'), true);
$settings['app'] = ${app};
${options.app === 'chat' ? '' : "$settings['gate'] = null;"}
${options.token ? `$settings['authenticate'] = fn (?string $token) => $token === ${JSON.stringify(options.token)};` : ''}
return $settings;
`,
    );
    // One settings file for every piece: they must share the database.
    this.env = { ...process.env, REALTIME_CONFIG: this.configFile };
  }

  /** php -S router.php with `workers` workers (PHP_CLI_SERVER_WORKERS). */
  builtin(workers = 32): Promise<PhpBuiltin> {
    return withFreePorts(1, async ([port]) => {
      const env = { ...this.env, PHP_CLI_SERVER_WORKERS: String(workers) };
      const proc = new ManagedProcess(
        `php -S :${port}`,
        this.php,
        ['-S', `${HOST}:${port}`, join(PHP_DIR, 'router.php')],
        { env },
      );
      const line = await proc
        .waitForLine(/Development Server .* started|Failed to listen/, 10_000)
        .catch(async (err: Error) => {
          await proc.kill();
          throw err;
        });
      if (line.includes('Failed to listen')) {
        await proc.kill();
        throw line.includes('in use') ? new PortInUseError(port!, line) : new Error(`php -S: ${line}`);
      }
      this.owned.push(() => proc.stop());
      this.logSources.push(() => output(proc));
      return new PhpBuiltin(port!, proc);
    });
  }

  /** ws-daemon.php on a port of its choosing; `upstream`: relay other requests to that php -S. */
  async daemon(options: { upstream?: number } = {}): Promise<PhpDaemon> {
    const daemon = new PhpDaemon(this.php, this.env, options.upstream);
    this.owned.push(() => daemon.stop());
    this.logSources.push(() => daemon.output());
    await daemon.start();
    return daemon;
  }

  /** php-fpm running examples/php/deploy/php-fpm.conf's pool (as root: user root, with -R). */
  async fpm(): Promise<PhpFpm> {
    const binary = await ensurePhpFpm();
    const socket = join(this.dir, 'php-fpm.sock');
    const errorLog = join(this.dir, 'php-fpm.log');
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    const pool = deployFile('php-fpm.conf')
      .replace(/^listen = .*$/m, `listen = ${socket}`)
      .replace(/^(user|group|listen\.owner|listen\.group) = .*$/gm, isRoot ? `$1 = root` : '')
      .replace(/^env\[REALTIME_CONFIG\] = .*$/m, `env[REALTIME_CONFIG] = ${this.configFile}`);
    const config = join(this.dir, 'php-fpm.conf');
    writeFileSync(
      config,
      `[global]\npid = ${join(this.dir, 'php-fpm.pid')}\nerror_log = ${errorLog}\ndaemonize = no\nlog_level = notice\n\n${pool}`,
    );
    const proc = new ManagedProcess('php-fpm', binary, ['-F', '-y', config, ...(isRoot ? ['-R'] : [])], {
      env: this.env,
    });
    this.owned.push(() => proc.stop());
    const fpm = new PhpFpm(socket, proc, errorLog);
    this.logSources.push(() => `${output(proc)}\n${fpm.log()}`);
    await waitFor(() => fpm.log().includes('ready to handle connections') || !proc.running(), {
      what: 'php-fpm to be ready',
      timeout: 10_000,
      retryErrors: true,
    });
    if (!proc.running()) throw new Error(`php-fpm exited (${proc.describeExit()}): ${fpm.log()}${proc.tail()}`);
    return fpm;
  }

  /** nginx with examples/php/deploy/nginx.conf's site: /realtime to fpm (and upgrades to the daemon), the demo pages as files. */
  site(fpm: PhpFpm, daemon: PhpDaemon): Promise<Nginx> {
    // Debian's nginx.conf includes mime.types in its http block, where this site would go.
    const site = (port: number) =>
      'include /etc/nginx/mime.types;\n' +
      deployFile('nginx.conf')
        .replace(/listen 80;/, `listen ${HOST}:${port};`)
        .replace(/server 127\.0\.0\.1:8090;/, `server ${HOST}:${daemon.port};`)
        .replace(/unix:\/run\/php\/php8\.2-fpm-realtime\.sock/g, `unix:${fpm.socket}`)
        .replace(/\/srv\/realtime-client\//g, REPO_ROOT)
        .replace(/include fastcgi_params;/g, 'include /etc/nginx/fastcgi_params;');
    return startNginx({ backends: [], site }).then((nginx) => {
      this.owned.push(() => nginx.destroy());
      // Its error log gets what PHP-FPM's scripts log (FastCGI stderr); its access log every URL.
      this.logSources.push(() => [nginx.errorLogFile, nginx.accessLogFile].map(readIfThere).join('\n'));
      return nginx;
    });
  }

  /** Runs SQL on the server's database (with PHP: no sqlite3 binary needed) and returns the rows. */
  async query(sql: string, ...params: Array<string | number>): Promise<Array<Record<string, unknown>>> {
    const code =
      '$s = (new PDO("sqlite:" . $argv[1]))->prepare($argv[2]); $s->execute(array_slice($argv, 3)); echo json_encode($s->fetchAll(PDO::FETCH_ASSOC));';
    const { stdout } = await run(this.php, ['-r', code, this.database, sql, ...params.map(String)]);
    return JSON.parse(stdout) as Array<Record<string, unknown>>;
  }

  /** Everything its pieces printed or logged so far: output, PHP-FPM's log, nginx's error and access logs. */
  logs(): string {
    return this.logSources.map((read) => read()).join('\n');
  }

  /** Stops everything it started (by pid), removes its directory. */
  async destroy(): Promise<void> {
    const results = await Promise.allSettled(
      this.owned
        .splice(0)
        .reverse()
        .map((stop) => stop()),
    );
    rmSync(this.dir, { recursive: true, force: true });
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

function output(proc: ManagedProcess): string {
  return [...proc.stdout, ...proc.stderr].join('\n');
}

function readIfThere(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function deployFile(name: string): string {
  return readFileSync(join(PHP_DIR, 'deploy', name), 'utf8');
}

/** A PHP stack with its own temp dir and settings; start its pieces with builtin(), daemon(), fpm(), site(). */
export async function startPhp(options: PhpOptions): Promise<PhpStack> {
  const php = await ensurePhp();
  return new PhpStack(php, mkdtempSync(join(tmpdir(), 'realtime-php-')), options);
}
