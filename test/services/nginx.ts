// nginx as the load balancer of a multi-node test: by default round robin over N backends with no
// stickiness (no ip_hash, hash, sticky or least_conn; `balance` makes it sticky where a test or
// the benchmark needs that, as socket.io's polling does), proxying plain HTTP unbuffered both
// ways (SSE and fetch streams flow, long-polls hold) and WebSocket upgrades with long timeouts.
// Its own config, logs, pid file and temp paths in a temp dir, on a free port of 127.0.0.1 (never
// 80), in the foreground as our child, stopped by pid. The access log records which backend
// served each request ($upstream_addr), one JSON object a line. With `site`, the same nginx serves
// a site of the caller's instead of balancing (the PHP tests: examples/php/deploy/nginx.conf);
// proxySite() is one: a plain reverse proxy, WebSocket not forwarded, streams buffered or not.
//
//   const lb = await startNginx({ backends: [portA, portB] });
//   lb.url                                  // http://127.0.0.1:PORT
//   await fetch(`${lb.url}/x`);  await lb.waitForRequests(1);
//   lb.servedBy()                           // Map { portA => 1 }
//   await lb.setBackends([portA, portC]);   // rewrites the config, reloads (SIGHUP)
//   await lb.destroy();
//   const proxy = await startNginx({ backends: [], site: proxySite(serverPort, { buffering: true }) });
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBinary } from './install';
import { HOST, PortInUseError, withFreePorts } from './ports';
import { ManagedProcess, pidGone } from './process';
import { waitFor } from '../wait';

export interface NginxOptions {
  /** Ports of the backends on 127.0.0.1, balanced round robin unless `balance` says otherwise. */
  backends: number[];
  /**
   * How a request picks its backend. 'round-robin' (default): no stickiness. 'ip-hash': nginx's
   * `ip_hash`, sticky per client address, but on the first three octets of an IPv4 address, so
   * every client of 127.0.0.0/24 lands on one backend. `{ hash }`: `hash <hash>;`, e.g.
   * `'$remote_addr consistent'` (sticky per whole address: clients bound to different
   * 127.0.0.x addresses spread over the backends).
   */
  balance?: 'round-robin' | 'ip-hash' | { hash: string };
  /** worker_connections (default 1024); a proxied connection takes two. */
  workerConnections?: number;
  /** worker_processes (default 1: enough for tests, and one worker shares one round-robin counter). */
  workerProcesses?: number;
  /**
   * Idle keepalive connections to the backends per worker (default 0: a new backend connection per
   * request). With some, a backend sees requests of different clients on one connection.
   */
  keepalive?: number;
  /** Parameters for each `server` line of the upstream, e.g. 'max_fails=0' (default: nginx's). */
  serverParams?: string;
  /** proxy_read_timeout and friends (default 1 h: a long-poll or an idle WebSocket must not be cut by the balancer). */
  timeoutSeconds?: number;
  /** How long a start or reload may take before failing (default 10 s). */
  startTimeoutMs?: number;
  /**
   * A site of the caller's instead of the balancer (backends are then unused): what goes in the
   * `http` block after the log and temp paths, given the port to listen on.
   */
  site?: (port: number) => string;
}

/** One line of the access log. */
export interface AccessEntry {
  /** $msec: seconds since the epoch, with ms. */
  time: number;
  method: string;
  uri: string;
  status: number;
  /** $upstream_addr split: the backends tried, in order ("127.0.0.1:PORT"); the last one served. */
  upstreams: string[];
  /** Port of the backend that served it (the last one tried), undefined if none was. */
  upstreamPort: number | undefined;
  /** The Upgrade header of the request ("websocket" for a WebSocket). */
  upgrade: string;
  /** $request_time in seconds. */
  requestTime: number;
}

// escape=json: every value is a valid JSON string body, so each line parses as it is.
const LOG_FORMAT =
  `'{"time":"$msec","method":"$request_method","uri":"$request_uri","status":"$status",` +
  `"upstream":"$upstream_addr","upgrade":"$http_upgrade","requestTime":"$request_time"}'`;

function renderConfig(port: number, dir: string, options: NginxOptions): string {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const timeout = `${options.timeoutSeconds ?? 3600}s`;
  const params = options.serverParams ? ` ${options.serverParams}` : '';
  if (options.backends.length === 0 && !options.site) throw new Error('nginx needs at least one backend');
  return `# Written by test/services/nginx.ts for one test; see there.
daemon off;                # our child, stopped by pid
master_process on;         # reload() is a SIGHUP to the master
worker_processes ${options.workerProcesses ?? 1};
pid ${dir}/nginx.pid;
lock_file ${dir}/nginx.lock;
error_log ${dir}/error.log notice;   # notice: start() and reload() wait for "start worker process"
${
  // As root the workers would run as nobody, who cannot enter our 0700 temp dir.
  isRoot ? 'user root;' : ''
}
events {
  worker_connections ${options.workerConnections ?? 1024};
}

http {
  log_format balancer escape=json ${LOG_FORMAT};
  access_log ${dir}/access.log balancer;

  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

${options.site ? options.site(port) : balancer(port, options, params, timeout)}
}
`;
}

/** The load balancer: round robin over the backends (or as `balance` says), unbuffered, WebSocket upgrades passed on. */
function balancer(port: number, options: NginxOptions, params: string, timeout: string): string {
  const balance = options.balance ?? 'round-robin';
  const method =
    balance === 'round-robin'
      ? "    # Round robin, nginx's default: no ip_hash, hash, sticky or least_conn."
      : balance === 'ip-hash'
        ? '    ip_hash;   # sticky per client address (its first three octets, for IPv4)'
        : `    hash ${balance.hash};   # sticky per key`;
  return `  # "Connection: upgrade" only for an upgrade; otherwise none (HTTP/1.1 keep-alive to the backend).
  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      '';
  }

  upstream backends {
${method}
${options.backends.map((p) => `    server ${HOST}:${p}${params};`).join('\n')}
${options.keepalive ? `    keepalive ${options.keepalive};` : ''}
  }

  server {
    listen ${HOST}:${port};

    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;

      # Streams flow through as they come: SSE and fetch-stream responses, streamed request bodies.
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_cache off;

      # Long-polls and idle WebSockets are held, not cut by the balancer.
      proxy_read_timeout ${timeout};
      proxy_send_timeout ${timeout};
      client_body_timeout ${timeout};
      send_timeout ${timeout};

      # The reference server enforces its own body limits; the balancer must not change what tests see.
      client_max_body_size 0;
    }
  }`;
}

export interface ProxySiteOptions {
  /**
   * Pass WebSocket upgrades on (Upgrade and Connection headers to the backend). Default false: a
   * proxy whose config forgot them, so every upgrade reaches the backend as a plain GET and fails.
   */
  websocket?: boolean;
  /**
   * Hold responses as a buffering proxy does: proxy_buffering on (nginx's default), gzip on for
   * every type the server sends (text/event-stream included), and the backend's
   * `X-Accel-Buffering: no` ignored, as by a proxy or CDN that does not know that nginx header
   * (nginx honours it, and streams would flow through it otherwise). A stream's bytes then wait in
   * the proxy until its buffers fill or the response ends; a long-poll's response ends, so it flows.
   * Default false: unbuffered both ways, streams flow as they come.
   */
  buffering?: boolean;
}

/**
 * A `site` for startNginx(): nginx as the one reverse proxy in front of the server on
 * `upstreamPort` (pages and endpoint alike: the pages' origin is nginx's), over HTTP/1.1, with the
 * Host header passed on (the server checks Origin against it).
 */
export function proxySite(upstreamPort: number, options: ProxySiteOptions = {}): (port: number) => string {
  const websocket = options.websocket
    ? `      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;`
    : '      # No Upgrade nor Connection header: WebSocket is not forwarded.';
  const buffering = options.buffering
    ? `      proxy_buffering on;
      proxy_ignore_headers X-Accel-Buffering;
      gzip on;
      gzip_proxied any;
      gzip_min_length 0;
      gzip_types text/event-stream application/x-ndjson application/json text/plain text/javascript;`
    : `      proxy_buffering off;
      proxy_request_buffering off;`;
  return (port) => `  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      '';
  }

  server {
    listen ${HOST}:${port};

    location / {
      proxy_pass http://${HOST}:${upstreamPort};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
${websocket}
${buffering}
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      client_max_body_size 0;
    }
  }`;
}

export class Nginx {
  readonly url: string;
  readonly configFile: string;
  readonly errorLogFile: string;
  readonly accessLogFile: string;
  readonly pidFile: string;
  process: ManagedProcess | undefined;
  /** How long each start took, in ms, for the record. */
  readonly startTimes: number[] = [];

  constructor(
    readonly port: number,
    readonly dir: string,
    private options: NginxOptions,
    private readonly binary: string,
  ) {
    this.url = `http://${HOST}:${port}`;
    this.configFile = join(dir, 'nginx.conf');
    this.errorLogFile = join(dir, 'error.log');
    this.accessLogFile = join(dir, 'access.log');
    this.pidFile = join(dir, 'nginx.pid');
    writeFileSync(this.configFile, renderConfig(port, dir, options));
  }

  get backends(): number[] {
    return [...this.options.backends];
  }

  /** ws://127.0.0.1:PORT + path. */
  wsUrl(path = '/'): string {
    return `ws://${HOST}:${this.port}${path}`;
  }

  /** pid of the master (throws while stopped). */
  get pid(): number {
    if (!this.process?.running()) throw new Error(`nginx on port ${this.port} is not running`);
    return this.process.pid;
  }

  /** The master's and the workers' pids. */
  pids(): number[] {
    return this.process?.pids() ?? [];
  }

  running(): boolean {
    return this.process?.running() ?? false;
  }

  private errorLog(from = 0): string {
    if (!existsSync(this.errorLogFile)) return '';
    return readFileSync(this.errorLogFile).subarray(from).toString('utf8');
  }

  private errorLogSize(): number {
    return existsSync(this.errorLogFile) ? statSync(this.errorLogFile).size : 0;
  }

  /** Starts nginx; resolves once its master has bound the port and started its workers. */
  async start(): Promise<void> {
    if (this.running()) throw new Error(`nginx on port ${this.port} is already running (pid ${this.process!.pid})`);
    const began = Date.now();
    const from = this.errorLogSize();
    const timeoutMs = this.options.startTimeoutMs ?? 10_000;
    // -e: the error log before the config is read is ours too (Debian's build says stderr, others a /var/log file).
    const proc = new ManagedProcess(`nginx :${this.port}`, this.binary, [
      '-p',
      `${this.dir}/`,
      '-c',
      this.configFile,
      '-e',
      this.errorLogFile,
    ]);
    this.process = proc;
    const workers = this.options.workerProcesses ?? 1;
    // nginx retries a taken port for 2.5 s before it gives up: the log says so at the first try.
    const outcome = await waitFor(
      () => {
        const log = this.errorLog(from);
        if (log.includes(`bind() to ${HOST}:${this.port} failed (98`)) return 'in use';
        if ((log.match(/start worker process \d+/g) ?? []).length >= workers) return 'ready';
        if (!proc.running()) return 'exited';
        return undefined;
      },
      { what: `nginx on port ${this.port} to start its workers`, timeout: timeoutMs, retryErrors: true },
    ).catch(async (err: Error) => {
      await proc.kill();
      this.process = undefined;
      throw new Error(`${err.message}; error log:\n${this.errorLog(from)}`);
    });
    if (outcome !== 'ready') {
      await proc.kill();
      this.process = undefined;
      const log = this.errorLog(from);
      if (outcome === 'in use') throw new PortInUseError(this.port, log.trim().split('\n').at(-1) ?? '');
      throw new Error(`nginx exited (${proc.describeExit()}) before starting; error log:\n${log}${proc.tail()}`);
    }
    // Proof that the master we started is the one serving the port it wrote down.
    const written = Number(readFileSync(this.pidFile, 'utf8').trim());
    if (written !== proc.pid) throw new Error(`nginx's pid file says ${written}, but we started ${proc.pid}`);
    this.startTimes.push(Date.now() - began);
  }

  /**
   * Rewrites the config for these backends and reloads nginx: new connections go to the new set,
   * open ones (WebSockets, streams) stay with the old workers until they close, as in production.
   */
  async setBackends(backends: number[]): Promise<void> {
    this.options = { ...this.options, backends };
    writeFileSync(this.configFile, renderConfig(this.port, this.dir, this.options));
    await this.reload();
  }

  /** SIGHUP to the master; resolves once new workers run and every old one has stopped accepting. */
  async reload(): Promise<void> {
    const master = this.pid;
    const oldWorkers = this.pids().filter((p) => p !== master);
    const from = this.errorLogSize();
    process.kill(master, 'SIGHUP');
    const workers = this.options.workerProcesses ?? 1;
    const outcome = await waitFor(
      () => {
        const log = this.errorLog(from);
        const failed = log.split('\n').find((l) => /\[(emerg|alert)\]/.test(l));
        if (failed) return { failed };
        const started = (log.match(/start worker process \d+/g) ?? []).length >= workers;
        // An old worker logs "gracefully shutting down" right before it closes its listening sockets.
        const oldDone = oldWorkers.every(
          (pid) => pidGone(pid) || new RegExp(`\\b${pid}#\\d+: gracefully shutting down`).test(log),
        );
        return started && oldDone ? { failed: undefined } : undefined;
      },
      {
        what: `nginx on port ${this.port} to reload`,
        timeout: this.options.startTimeoutMs ?? 10_000,
        retryErrors: true,
      },
    );
    if (outcome.failed) throw new Error(`nginx refused the new config and kept the old one: ${outcome.failed}`);
  }

  /** The access log, parsed: one entry per finished request (a WebSocket's when it closes). */
  accessLog(): AccessEntry[] {
    if (!existsSync(this.accessLogFile)) return [];
    return readFileSync(this.accessLogFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const raw = JSON.parse(line) as Record<string, string>;
        // "a, b" for the backends tried in turn, "a : b" across internal redirects.
        const upstreams = raw.upstream ? raw.upstream.split(/\s*[,:]\s+/).filter((u) => u.includes(':')) : [];
        const last = upstreams.at(-1);
        return {
          time: Number(raw.time),
          method: raw.method!,
          uri: raw.uri!,
          status: Number(raw.status),
          upstreams,
          upstreamPort: last ? Number(last.slice(last.lastIndexOf(':') + 1)) : undefined,
          upgrade: raw.upgrade ?? '',
          requestTime: Number(raw.requestTime),
        };
      });
  }

  /** Waits until the access log holds at least `count` entries; resolves with them. */
  waitForRequests(count: number, ms = 10_000): Promise<AccessEntry[]> {
    return waitFor(
      () => {
        const entries = this.accessLog();
        return entries.length >= count ? entries : undefined;
      },
      { what: `${count} entries in nginx's access log`, timeout: ms, retryErrors: true },
    );
  }

  /** Requests per backend port, from the access log. */
  servedBy(entries = this.accessLog()): Map<number, number> {
    const counts = new Map<number, number>();
    for (const e of entries)
      if (e.upstreamPort !== undefined) counts.set(e.upstreamPort, (counts.get(e.upstreamPort) ?? 0) + 1);
    return counts;
  }

  /** SIGTERM (fast shutdown: open connections are closed), SIGKILL after `graceMs`; resolves once master and workers are gone. */
  async stop(graceMs = 5_000): Promise<void> {
    await this.process?.stop(graceMs);
  }

  /** SIGKILL to master and workers. */
  async kill(): Promise<void> {
    await this.process?.kill();
  }

  /** Stops it and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** nginx on exactly `port` in a new temp dir; PortInUseError if taken. Tests want startNginx(). */
export async function launchNginx(port: number, options: NginxOptions): Promise<Nginx> {
  const binary = await ensureBinary('nginx', 'nginx-light');
  const dir = mkdtempSync(join(tmpdir(), `nginx-${port}-`));
  const nginx = new Nginx(port, dir, options, binary);
  try {
    await nginx.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return nginx;
}

/** nginx balancing over `options.backends` on a free port (a new one if it was taken meanwhile). */
export function startNginx(options: NginxOptions): Promise<Nginx> {
  return withFreePorts(1, ([port]) => launchNginx(port!, options));
}
