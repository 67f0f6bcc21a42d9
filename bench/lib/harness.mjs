// Node side of `npm run bench`: the bench server as a child process (restartable, on a fixed
// port after the first start), headless Chromium, and bench pages opened in fresh contexts.
import { fork } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { Browser } from './cdp.mjs';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const now = () => performance.timeOrigin + performance.now();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The bench server (bench/server.mjs) in its own process, talked to over fork()'s IPC channel. */
export class ServerProcess {
  port = 0;
  child = null;
  #seq = 0;
  #waiting = new Map();

  /** `execArgv`: Node options for the server process (e.g. --cpu-prof when profiling it). */
  constructor(execArgv = []) {
    this.execArgv = execArgv;
  }

  /** Starts the process (on the same port as before, after the first start); resolves once it listens. */
  async start() {
    const child = (this.child = fork(`${root}/bench/server.mjs`, [], {
      env: { ...process.env, PORT: String(this.port) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: this.execArgv,
    }));
    child.on('message', (m) => {
      if (m?.reply !== undefined) {
        this.#waiting.get(m.reply)?.(m);
        this.#waiting.delete(m.reply);
      }
    });
    const info = await new Promise((resolve, reject) => {
      const onExit = (code, signal) => reject(new Error(`bench server exited before listening (${signal ?? code})`));
      child.once('exit', onExit);
      child.on('message', (m) => {
        if (m?.listening) {
          child.off('exit', onExit);
          resolve(m);
        }
      });
    });
    this.port = info.port;
    return info;
  }

  /** Kills the process outright (a crash, as the clients see it) and waits until it is gone. */
  async kill() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
    this.child = null;
  }

  /** Asks the process to exit by itself (so that e.g. --cpu-prof writes its profile). */
  async exit() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.send({ cmd: 'exit' });
    await gone;
    this.child = null;
  }

  async restart() {
    await this.kill();
    return this.start();
  }

  /** Sends a command; resolves with the server's reply. */
  command(cmd) {
    const id = ++this.#seq;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.child.send({ cmd, id });
    });
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }
}

/**
 * Bundles TypeScript of the tests for Node (which cannot import it: Node 20) into the bench's
 * cache with esbuild, packages left external, and imports it. `name` is the bundle's file name
 * there; `options` says what to bundle (esbuild's `entryPoints` or `stdin`).
 */
export async function importBundled(name, options) {
  const dir = `${root}/node_modules/.cache/realtime-client-bench`;
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  const out = `${dir}/${name}`;
  await build({
    ...options,
    outfile: out,
    format: 'esm',
    platform: 'node',
    bundle: true,
    packages: 'external',
    logLevel: 'error',
  });
  return import(`${pathToFileURL(out).href}?t=${Date.now()}`);
}

/**
 * Headless Chromium as the browser tests find it: findChromium() from test/browser/chromium.ts,
 * launched with the same flags as its launchBrowser(), but driven over a bare CDP connection (see
 * ./cdp.mjs for why).
 */
export async function launchBrowser() {
  const { findChromium, CHROMIUM_ARGS } = await importBundled('chromium.mjs', {
    entryPoints: [`${root}/test/browser/chromium.ts`],
  });
  return Browser.launch(await findChromium(), CHROMIUM_ARGS);
}

/** One bench page in a fresh browser context. */
export class BenchPage {
  static async open(browser, server, kind, params = {}) {
    const page = await browser.newPage();
    const p = new BenchPage(page, kind, params);
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params))
      if (v !== undefined) q.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
    await page.goto(`${server.url}/bench/pages/${kind}.html?${q}`);
    return p;
  }

  constructor(page, kind, params) {
    this.page = page;
    this.kind = kind;
    this.params = params;
  }

  get label() {
    return `${this.kind}${this.params.transport ? `/${this.params.transport}` : ''}`;
  }

  /** Connects and waits for the first open. */
  async start(timeout = 20_000) {
    await this.page.evaluate(() => window.H.start());
    await this.waitOpens(1, timeout);
  }

  async waitOpens(n, timeout = 20_000) {
    try {
      await this.page.waitForFunction((k) => window.H.opens() >= k, n, { timeout });
    } catch (err) {
      throw new Error(`${this.label}: not open (${n}) within ${timeout} ms: ${await this.summary()}`, { cause: err });
    }
  }

  eval(fn, arg) {
    return this.page.evaluate(fn, arg);
  }

  events() {
    return this.page.evaluate(() => window.H.events);
  }

  async summary() {
    try {
      return JSON.stringify(
        await this.page.evaluate(() => ({ events: window.H.events.slice(-8), errors: window.H.errors.slice(-5) })),
      );
    } catch (err) {
      return String(err);
    }
  }

  /** JS heap in use after a forced full GC (CDP HeapProfiler.collectGarbage + Runtime.getHeapUsage). */
  heap() {
    return this.page.heap();
  }

  async errors() {
    return this.page.evaluate(() => window.H.errors);
  }

  async close() {
    try {
      await this.page.evaluate(() => window.H.close && window.H.close());
    } catch {
      // The page crashed or is gone: closing it below is all that is left to do.
    }
    await this.page.close();
  }
}
