// Node processes running a script of the caller's, each its own HTTP server: the nodes of a
// multi-node test. A script listens on the port in its PORT environment variable (0 on a first
// start: the kernel picks a free one, so there is no race to lose) and then prints
//   {"ev":"listening","port":N}
// as one line on stdout (listening.mjs's reportListening(server) does it). Every stdout line that
// is JSON is kept in `events`, for the test to read. A node can be SIGKILLed by pid and started
// again on the same port (test/browser/server-process.mjs speaks this protocol too).
//
//   const [a, b] = await startNodeProcesses(script, 2, { env: { REDIS_URL: redis.url } });
//   a.port, a.pid, a.events
//   await a.kill();        // SIGKILL: a crashed node
//   await a.start();       // again, on the same port
//   await a.stop();        // SIGTERM, SIGKILL after a grace
import { ManagedProcess } from './process';
import { HOST } from './ports';

export interface NodeEvent {
  ev: string;
  [key: string]: unknown;
}

export interface NodeProcessOptions {
  /** Arguments after the script, given the port it is to listen on (0 on a first start) and its index. */
  args?: (node: { port: number; index: number }) => string[];
  /** More environment (PORT, NODE_INDEX and NODE_NAME are set by the harness). */
  env?: NodeJS.ProcessEnv;
  /** Node flags before the script (e.g. ['--enable-source-maps']). */
  execArgv?: string[];
  /** How long a start may take before failing (default 10 s). */
  startTimeoutMs?: number;
  /** Working directory (default: this one). */
  cwd?: string;
}

export class NodeProcess {
  /** 0 until the first start reports its port; the same port for every start after it. */
  port = 0;
  process: ManagedProcess | undefined;
  /** Every JSON line it printed on stdout, over all its starts; other lines as { ev: 'text', text }. */
  readonly events: NodeEvent[] = [];
  /** How long each start took, in ms, for the record. */
  readonly startTimes: number[] = [];

  constructor(
    readonly script: string,
    readonly index: number,
    readonly name: string,
    private readonly options: NodeProcessOptions = {},
  ) {}

  get url(): string {
    return `http://${HOST}:${this.port}`;
  }

  get pid(): number {
    if (!this.process?.running()) throw new Error(`${this.name} is not running`);
    return this.process.pid;
  }

  running(): boolean {
    return this.process?.running() ?? false;
  }

  pids(): number[] {
    return this.process?.pids() ?? [];
  }

  /** Starts the script (on its port once it has one); resolves when it reports listening. */
  async start(): Promise<void> {
    if (this.running()) throw new Error(`${this.name} is already running (pid ${this.process!.pid})`);
    const began = Date.now();
    let listening: (port: number) => void = () => {};
    const reported = new Promise<number>((resolve) => (listening = resolve));
    const proc = new ManagedProcess(
      this.name,
      process.execPath,
      [
        ...(this.options.execArgv ?? []),
        this.script,
        ...(this.options.args?.({ port: this.port, index: this.index }) ?? []),
      ],
      {
        cwd: this.options.cwd,
        env: {
          ...process.env,
          ...this.options.env,
          PORT: String(this.port),
          NODE_INDEX: String(this.index),
          NODE_NAME: this.name,
        },
        onStdout: (line) => {
          let event: NodeEvent;
          try {
            event = JSON.parse(line) as NodeEvent;
          } catch {
            event = { ev: 'text', text: line };
          }
          this.events.push(event);
          if (event.ev === 'listening' && typeof event.port === 'number') listening(event.port);
        },
      },
    );
    this.process = proc;
    let timer: NodeJS.Timeout | undefined;
    try {
      const port = await Promise.race([
        reported,
        proc.exited.then(() => {
          throw new Error(`${this.name} exited (${proc.describeExit()}) before listening${proc.tail()}`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `${this.name} did not report listening within ${this.options.startTimeoutMs ?? 10_000} ms${proc.tail()}`,
                ),
              ),
            this.options.startTimeoutMs ?? 10_000,
          );
        }),
      ]);
      if (this.port !== 0 && port !== this.port)
        throw new Error(`${this.name} listens on ${port}, not on its port ${this.port}`);
      this.port = port;
    } catch (err) {
      await proc.kill();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    this.startTimes.push(Date.now() - began);
  }

  /** SIGKILL (a crashed node); resolves once its pid is gone. */
  async kill(): Promise<void> {
    await this.process?.kill();
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves once its pid is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    await this.process?.stop(graceMs);
  }

  /** kill() then start() on the same port. */
  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /** Resolves with the first event (already printed or to come) that matches; rejects on exit or after `ms`. */
  async waitForEvent(match: (event: NodeEvent) => boolean, ms = 10_000): Promise<NodeEvent> {
    const seen = this.events.find(match);
    if (seen) return seen;
    const proc = this.process;
    if (!proc) throw new Error(`${this.name} was never started`);
    const line = await proc.waitForLine((l) => {
      try {
        return match(JSON.parse(l) as NodeEvent);
      } catch {
        return false;
      }
    }, ms);
    return JSON.parse(line) as NodeEvent;
  }

  /** For scopes: stop(). */
  destroy(): Promise<void> {
    return this.stop();
  }
}

/** Starts `script` as one node (index 0 unless given); resolves once it listens. */
export async function startNodeProcess(
  script: string,
  options: NodeProcessOptions & { index?: number; name?: string } = {},
): Promise<NodeProcess> {
  const index = options.index ?? 0;
  const node = new NodeProcess(script, index, options.name ?? `node-${index}`, options);
  await node.start();
  return node;
}

/** Starts `count` nodes of `script` in parallel (names node-0, node-1, ...); if one fails, stops the others. */
export async function startNodeProcesses(
  script: string,
  count: number,
  options: NodeProcessOptions = {},
): Promise<NodeProcess[]> {
  const nodes = Array.from({ length: count }, (_, index) => new NodeProcess(script, index, `node-${index}`, options));
  const started = await Promise.allSettled(nodes.map((n) => n.start()));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(nodes.map((n) => n.kill()));
    throw failed.reason;
  }
  return nodes;
}
