// The reference server in processes of their own (server-process.mjs on the built
// dist/server.js), sharing one session store directory, so a test can SIGKILL one and start the
// next on the same port: the restart test and the persisted-queue test.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { launchBrowser } from './chromium';
import { requireBuild, root, serveStaticBeside, type OpenedPage } from './harness';
import type { StaticServer } from './static-server';

const script = fileURLToPath(new URL('./server-process.mjs', import.meta.url));

export interface LogLine {
  ev: string;
  port?: number;
  sid?: string;
  pid?: string;
  tag?: string;
  i?: number;
  error?: string;
}

/** One server process and what it printed. */
export interface ServerProcess {
  child: ChildProcess;
  label: string;
  lines: LogLine[];
  stderr: string[];
  port: number;
  exited: Promise<void>;
}

export interface AppLine {
  seq: number;
  proc: string;
  pid: string;
  tag: string;
  i: number;
}

/** Server processes over one fresh session store directory; `cleanup()` kills them and removes it. */
export function serverProcesses(prefix: string) {
  const live = new Set<ServerProcess>();
  let started = 0;
  const storeDir = mkdtempSync(join(tmpdir(), prefix));

  /** Starts server-process.mjs on `port` (0: any); its pushes carry a label unique to it. */
  async function start(port: number): Promise<ServerProcess> {
    const label = `process-${++started}`;
    const child = spawn(process.execPath, [script, String(port), label, storeDir], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc: ServerProcess = {
      child,
      label,
      lines: [],
      stderr: [],
      port: 0,
      exited: new Promise((resolve) => child.once('exit', () => resolve())),
    };
    live.add(proc);
    void proc.exited.then(() => live.delete(proc));
    createInterface({ input: child.stderr }).on('line', (l) => proc.stderr.push(l));
    const listening = new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (l) => {
        let line: LogLine;
        try {
          line = JSON.parse(l) as LogLine;
        } catch {
          line = { ev: 'text', error: l };
        }
        proc.lines.push(line);
        if (line.ev === 'listening') resolve(line.port!);
      });
      child.once('exit', (code, signal) =>
        reject(
          new Error(`server process ${label} exited (${signal ?? code}) before listening: ${proc.stderr.join('\n')}`),
        ),
      );
      child.once('error', reject);
    });
    proc.port = await listening;
    return proc;
  }

  async function kill(proc: ServerProcess): Promise<void> {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await proc.exited;
  }

  return {
    start,
    kill,
    /** The test app's record of the page messages it applied (pid filters this page's), from every process. */
    appLog: (pid: string): AppLine[] =>
      readdirSync(storeDir)
        .filter((f) => f.startsWith('app-'))
        .flatMap((f) =>
          readFileSync(join(storeDir, f), 'utf8')
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as AppLine),
        )
        .filter((l) => l.pid === pid && l.tag === 'm'),
    async cleanup(): Promise<void> {
      await Promise.all([...live].map(kill));
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

/**
 * The hooks of a file whose tests run the server in processes of their own: before all, Chromium,
 * a first process on port 0 and the pages' static server beside it; after each test, its page's
 * context; after all, everything. Every process of the file listens on `port`.
 */
export function processSuite(prefix: string) {
  const suite = {
    servers: serverProcesses(prefix),
    browser: undefined as unknown as Browser,
    statics: undefined as unknown as StaticServer,
    port: 0,
    /** The process running on `port`, when one is. */
    current: undefined as ServerProcess | undefined,
    /** The test's page, closed after it. */
    opened: undefined as OpenedPage | undefined,
  };
  beforeAll(async () => {
    requireBuild();
    suite.current = await suite.servers.start(0);
    suite.port = suite.current.port;
    suite.statics = await serveStaticBeside(suite.port);
    suite.browser = await launchBrowser();
  });
  afterAll(async () => {
    await suite.browser?.close();
    await suite.statics?.close();
    await suite.servers.cleanup();
  });
  afterEach(async () => {
    await suite.opened?.context.close();
    suite.opened = undefined;
  });
  return suite;
}
