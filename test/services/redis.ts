// A redis-server of the test's own: its own config file and data directory in a temp dir, on a
// free port of 127.0.0.1 (never 6379, never a shared instance), in the foreground as our child,
// stopped by pid. Restartable on the same port and directory, so an append-only file is reloaded.
//
//   const redis = await startRedis({ persistence: 'aof' });
//   redis.url                        // redis://127.0.0.1:PORT
//   await redis.command('SET', 'k', 'v');
//   await redis.restart();           // same port, same dir: the AOF is replayed
//   await redis.pause(2_000);        // down for 2 s (connections refused), then up again
//   await redis.destroy();           // stop by pid, remove the temp dir
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureBinary } from './install';
import { HOST, PortInUseError, withFreePorts } from './ports';
import { ManagedProcess } from './process';
import { redisCommand, redisInfo, type RespValue } from './resp';
import { delay } from '../wait';

export interface RedisOptions {
  /**
   * 'none' (default): nothing is written to disk (`save ""`, `appendonly no`), a restart starts
   * empty. 'aof': `appendonly yes`, so a restart (even after kill()) reloads the data.
   */
  persistence?: 'none' | 'aof';
  /** With 'aof': 'always' (default) so that every acknowledged write survives a SIGKILL, as tests expect. */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** More lines for redis.conf (e.g. 'maxmemory 10mb'). */
  config?: string[];
  /** How long a start may take before failing (default 10 s). */
  startTimeoutMs?: number;
}

const READY = 'Ready to accept connections';

export class RedisServer {
  readonly url: string;
  readonly configFile: string;
  readonly pidFile: string;
  /** The running process (undefined while stopped). */
  process: ManagedProcess | undefined;
  /** How long each start took to answer, in ms, for the record. */
  readonly startTimes: number[] = [];

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly binary: string,
    private readonly cliBinary: string,
    private readonly startTimeoutMs: number,
  ) {
    this.url = `redis://${HOST}:${port}`;
    this.configFile = join(dir, 'redis.conf');
    this.pidFile = join(dir, 'redis.pid');
  }

  get host(): string {
    return HOST;
  }

  /** pid of the running redis-server (throws while stopped). */
  get pid(): number {
    if (!this.process?.running()) throw new Error(`redis-server on port ${this.port} is not running`);
    return this.process.pid;
  }

  running(): boolean {
    return this.process?.running() ?? false;
  }

  /** Starts redis-server on its port; resolves once it answers as the process we started. */
  async start(): Promise<void> {
    if (this.running())
      throw new Error(`redis-server on port ${this.port} is already running (pid ${this.process!.pid})`);
    const began = Date.now();
    const proc = new ManagedProcess(`redis-server :${this.port}`, this.binary, [this.configFile], { cwd: this.dir });
    this.process = proc;
    try {
      await proc.waitForLine(READY, this.startTimeoutMs);
      // Proof that the port is ours: the server answering there is the process we started.
      const info = await redisInfo(this.port, 'server');
      if (Number(info.process_id) !== proc.pid || Number(info.tcp_port) !== this.port)
        throw new Error(
          `127.0.0.1:${this.port} answers as pid ${info.process_id} port ${info.tcp_port}, not as our redis-server (pid ${proc.pid})`,
        );
    } catch (err) {
      await proc.kill();
      this.process = undefined;
      if (proc.stdout.some((l) => l.includes('Address already in use')))
        throw new PortInUseError(this.port, proc.tail(5));
      throw err;
    }
    this.startTimes.push(Date.now() - began);
  }

  /** SIGTERM (redis-server then syncs its AOF), SIGKILL after `graceMs`; resolves once its pid is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    await this.process?.stop(graceMs);
  }

  /** SIGKILL: a crash. With 'aof' and appendfsync always, acknowledged writes survive it. */
  async kill(): Promise<void> {
    await this.process?.kill();
  }

  /** stop() then start() on the same port and directory. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Redis down for `ms`: stopped (connections refused, clients disconnected), then started again. */
  async pause(ms: number): Promise<void> {
    await this.stop();
    await delay(ms);
    await this.start();
  }

  /**
   * Redis hung for `ms`: SIGSTOP then SIGCONT. Connections stay open and unanswered, unlike
   * pause(), which is how a hung (not a dead) Redis looks to a client.
   */
  async freeze(ms: number): Promise<void> {
    const pid = this.pid;
    process.kill(pid, 'SIGSTOP');
    try {
      await delay(ms);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }

  /** One command over RESP; resolves with the reply (strings, numbers, null, arrays). */
  command(...args: string[]): Promise<RespValue> {
    return redisCommand(this.port, args);
  }

  /** `redis-cli -h 127.0.0.1 -p PORT ...args`; resolves with its stdout. */
  async cli(...args: string[]): Promise<string> {
    const { stdout } = await promisify(execFile)(this.cliBinary, ['-h', HOST, '-p', String(this.port), ...args]);
    return stdout;
  }

  /** Stops it and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ClusterMode {
  busPort: number;
  nodeTimeoutMs: number;
}

function configLines(port: number, dir: string, options: RedisOptions, cluster?: ClusterMode): string[] {
  const aof = options.persistence === 'aof';
  return [
    `port ${port}`,
    `bind ${HOST}`,
    // The test's own server: foreground (our child, so stoppable by pid), logging to stdout (where
    // start() waits for "Ready to accept connections"), every file in its own dir.
    'daemonize no',
    'supervised no',
    `dir ${dir}`,
    `pidfile ${join(dir, 'redis.pid')}`,
    'logfile ""',
    'loglevel notice',
    'always-show-logo no',
    'protected-mode yes',
    // No RDB snapshots in either mode: their forks cost time and make restarts depend on timing.
    'save ""',
    `appendonly ${aof ? 'yes' : 'no'}`,
    ...(aof ? [`appendfsync ${options.appendfsync ?? 'always'}`] : []),
    ...(cluster
      ? [
          'cluster-enabled yes',
          'cluster-config-file nodes.conf',
          // Explicit, so that the bus port is a free port too and not PORT + 10000.
          `cluster-port ${cluster.busPort}`,
          `cluster-node-timeout ${cluster.nodeTimeoutMs}`,
        ]
      : []),
    ...(options.config ?? []),
  ];
}

/**
 * Creates the config in a new temp dir and starts redis-server on a free port (retrying with a new
 * port if it was taken meanwhile). Installs redis-server with apt-get if missing (see install.ts).
 */
export function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  return withFreePorts(1, ([port]) => launchRedis(port!, options));
}

/**
 * redis-server on exactly `port` (and in cluster mode with its bus on `cluster.busPort`), in a new
 * temp dir; PortInUseError if the port is taken. Tests want startRedis(); this is its one attempt.
 */
export async function launchRedis(
  port: number,
  options: RedisOptions = {},
  cluster?: ClusterMode,
): Promise<RedisServer> {
  const binary = await ensureBinary('redis-server', 'redis-server');
  const cliBinary = await ensureBinary('redis-cli', 'redis-tools');
  const dir = mkdtempSync(join(tmpdir(), `redis-${port}-`));
  writeFileSync(join(dir, 'redis.conf'), `${configLines(port, dir, options, cluster).join('\n')}\n`);
  const server = new RedisServer(port, dir, binary, cliBinary, options.startTimeoutMs ?? 10_000);
  try {
    await server.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return server;
}
