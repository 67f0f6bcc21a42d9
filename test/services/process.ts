// A child process the tests own: its output kept line by line, waited on by condition, and stopped
// by pid together with the processes it forked (nginx's workers, redis-server's save children).
//
// Not started detached: Ctrl-C in the terminal reaches the services too, so an interrupted run
// leaves nothing behind. Descendants are found through /proc (the services are Linux packages).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { waitFor } from '../wait';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called with each stdout line as it comes. */
  onStdout?: (line: string) => void;
}

const HAS_PROC = existsSync('/proc/self/stat');

/** State letter and parent pid of `pid` from /proc, or undefined when there is no such process. */
function procStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: state!, ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is gone. A zombie counts as gone: it runs nothing and holds no port, and on this
 * kind of machine pid 1 does not reap orphans, so a SIGKILLed nginx's workers stay zombies.
 */
export function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  if (!HAS_PROC) return false;
  const stat = procStat(pid);
  return stat === undefined || stat.state === 'Z' || stat.state === 'X';
}

/** Live (non-zombie) descendants of `pid`, children first. */
export function descendants(pid: number): number[] {
  if (!HAS_PROC) return [];
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (!stat || stat.state === 'Z') continue;
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  // Never 0 or negative: kill(-1) would signal every process we may signal, kill(0) our own group.
  if (!(pid > 0)) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

// Everything started and not yet seen to exit: SIGKILLed if this test process exits first
// (a crashed worker, an unhandled error), so no service outlives the run.
const live = new Set<ManagedProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const proc of live) for (const pid of [...descendants(proc.pid), proc.pid]) signalQuietly(pid, 'SIGKILL');
  });
}

export class ManagedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  /** Resolves when the process has exited (and been reaped). */
  readonly exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | undefined;
  private waiters = new Set<{
    test: (line: string) => boolean;
    resolve: (line: string) => void;
    reject: (err: Error) => void;
  }>();

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    options: SpawnOptions = {},
  ) {
    installExitHook();
    this.child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const spawned = this.child.pid;
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        live.delete(this);
        resolve(this.exitInfo);
      });
      // A command that cannot be spawned emits 'error' and no 'exit'.
      this.child.once('error', (err) => {
        this.stderr.push(String(err));
        this.exitInfo ??= { code: null, signal: null };
        live.delete(this);
        resolve(this.exitInfo);
      });
    });
    void this.exited.then(() => {
      for (const w of this.waiters) w.reject(new Error(`${this.name} exited (${this.describeExit()}) ${this.tail()}`));
      this.waiters.clear();
    });
    // No pid when the command could not be spawned ('error' follows); nothing is ever signalled then.
    this.pid = spawned ?? 0;
    if (spawned !== undefined) live.add(this);
    const onLine = (into: string[], extra?: (line: string) => void) => (line: string) => {
      into.push(line);
      extra?.(line);
      for (const w of this.waiters) {
        if (!w.test(line)) continue;
        this.waiters.delete(w);
        w.resolve(line);
      }
    };
    createInterface({ input: this.child.stdout! }).on('line', onLine(this.stdout, options.onStdout));
    createInterface({ input: this.child.stderr! }).on('line', onLine(this.stderr));
  }

  running(): boolean {
    return this.exitInfo === undefined && this.pid > 0;
  }

  describeExit(): string {
    const e = this.exitInfo;
    return !e ? 'running' : e.signal ? `signal ${e.signal}` : `exit code ${e.code}`;
  }

  /** The last lines of its output, for error messages. */
  tail(lines = 20): string {
    const all = [...this.stdout.map((l) => `stdout: ${l}`), ...this.stderr.map((l) => `stderr: ${l}`)];
    return all.length ? `; its last output:\n${all.slice(-lines).join('\n')}` : '; it printed nothing';
  }

  /**
   * Resolves with the first line of its output (already printed or to come) that matches; rejects
   * when it exits first or after `ms`.
   */
  waitForLine(match: RegExp | string | ((line: string) => boolean), ms = 10_000): Promise<string> {
    const test = (line: string) =>
      typeof match === 'string' ? line.includes(match) : typeof match === 'function' ? match(line) : match.test(line);
    const seen = [...this.stdout, ...this.stderr].find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    if (!this.running())
      return Promise.reject(new Error(`${this.name} exited (${this.describeExit()}) ${this.tail()}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.name}: no output line matching ${String(match)} after ${ms} ms ${this.tail()}`));
      }, ms);
      const waiter = {
        test,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /** Its pid and its descendants' pids, those alive now. */
  pids(): number[] {
    return this.running() ? [this.pid, ...descendants(this.pid)] : [];
  }

  /**
   * SIGTERM to the process (it shuts down its own children), SIGKILL to it and its descendants
   * after `graceMs` if it has not exited; resolves once all of them are gone.
   */
  async stop(graceMs = 5_000): Promise<void> {
    const tree = this.pids();
    if (tree.length === 0) return;
    signalQuietly(this.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    await this.killAll([...tree, ...descendants(this.pid)]);
  }

  /** SIGKILL to the process and its descendants (a crash); resolves once all of them are gone. */
  async kill(): Promise<void> {
    await this.killAll(this.pids());
  }

  private async killAll(pids: number[]): Promise<void> {
    // The parent first: nginx's master would start a new worker in place of a killed one.
    for (const pid of pids) if (!pidGone(pid)) signalQuietly(pid, 'SIGKILL');
    await this.exited;
    await waitFor(() => pids.every(pidGone), {
      what: `${this.name}'s processes ${pids.join(', ')} to be gone`,
      timeout: 5_000,
      retryErrors: true,
    });
  }
}
