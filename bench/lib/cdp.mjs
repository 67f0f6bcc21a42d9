// Headless Chromium driven over a bare Chrome DevTools Protocol connection.
//
// Why not Playwright for the measurements: Playwright enables the Network domain on every page,
// so Chromium sends one CDP event to the driver for every WebSocket frame and HTTP chunk. That
// cost about a quarter of a millisecond per frame here, which swamps what we measure (10,000
// native WebSocket messages took 3.8 s under Playwright, 1.6 s without: about 2.5x).
// Here only the domains the bench needs are used: Target, Runtime.evaluate, HeapProfiler.
//
// The browser is the one the browser tests use (findChromium() in test/browser/chromium.ts:
// CHROMIUM_PATH / CHROME_PATH, /usr/bin/chromium, ...; installs Debian's chromium as root), with
// the flags of launchBrowser() and the background-throttling switches Playwright adds.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import WebSocket from 'ws';

/** Added to CHROMIUM_ARGS of test/browser/chromium.ts (passed to Browser.launch). */
export const FLAGS = [
  '--headless',
  // what Playwright adds, so that no page or timer is throttled
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
  '--disable-renderer-backgrounding',
  '--disable-ipc-flooding-protection',
  '--disable-hang-monitor',
  '--disable-back-forward-cache',
  '--disable-breakpad',
  '--disable-extensions',
  '--disable-dev-shm-usage',
  '--no-default-browser-check',
  '--password-store=basic',
  '--use-mock-keychain',
  '--mute-audio',
];

class Connection {
  #ws;
  #id = 0;
  #pending = new Map();
  listeners = new Set();

  constructor(ws) {
    this.#ws = ws;
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (!p) return;
        if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
        else p.resolve(msg.result);
      } else for (const l of this.listeners) l(msg);
    });
    ws.on('close', () => {
      for (const p of this.#pending.values()) p.reject(new Error(`${p.method}: browser connection closed`));
      this.#pending.clear();
    });
  }

  send(method, params = {}, sessionId) {
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, method });
      this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  close() {
    this.#ws.close();
  }
}

export class Browser {
  static async launch(executablePath, baseArgs) {
    const userDataDir = mkdtempSync(`${tmpdir()}/realtime-bench-chromium-`);
    const child = spawn(
      executablePath,
      [...baseArgs, ...FLAGS, `--user-data-dir=${userDataDir}`, '--remote-debugging-port=0', 'about:blank'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    // Whatever ends this process (an uncaught error included) must not leave the browser behind.
    const orphan = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    process.once('exit', orphan);
    child.once('exit', () => process.off('exit', orphan));
    const endpoint = await new Promise((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`Chromium did not start within 30 s:\n${err}`)), 30_000);
      child.stderr.on('data', (d) => {
        err += d;
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.on('exit', (code) => reject(new Error(`Chromium exited (${code}) before listening:\n${err}`)));
    });
    child.stderr.resume();
    const ws = new WebSocket(endpoint, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const b = new Browser(child, new Connection(ws), userDataDir);
    b.versionInfo = await b.conn.send('Browser.getVersion');
    return b;
  }

  constructor(child, conn, userDataDir) {
    this.child = child;
    this.conn = conn;
    this.userDataDir = userDataDir;
  }

  /** e.g. "Chrome/140.0.0.0" → "140.0.0.0" */
  version() {
    return this.versionInfo.product.replace(/^[^/]*\//, '');
  }

  /** A page in a fresh browser context (own cookies, storage and connection pool). */
  async newPage() {
    const { browserContextId } = await this.conn.send('Target.createBrowserContext', { disposeOnDetach: true });
    const { targetId } = await this.conn.send('Target.createTarget', { url: 'about:blank', browserContextId });
    const { sessionId } = await this.conn.send('Target.attachToTarget', { targetId, flatten: true });
    return new Page(this, browserContextId, targetId, sessionId);
  }

  async close() {
    try {
      await Promise.race([this.conn.send('Browser.close'), new Promise((r) => setTimeout(r, 3000))]);
    } catch {
      // The browser or its connection is already gone: SIGKILL below makes sure.
    }
    this.conn.close();
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const gone = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGKILL');
      await gone;
    }
    try {
      rmSync(this.userDataDir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // A profile left in the temporary directory costs disk space, not a result: not worth failing the run.
    }
  }
}

export class Page {
  constructor(browser, contextId, targetId, sessionId) {
    this.browser = browser;
    this.contextId = contextId;
    this.targetId = targetId;
    this.sessionId = sessionId;
  }

  send(method, params) {
    return this.browser.conn.send(method, params, this.sessionId);
  }

  /** Navigates and waits until the page's scripts ran (window.H exists and the document loaded). */
  async goto(url, timeout = 20_000) {
    const { errorText } = await this.send('Page.navigate', { url });
    if (errorText) throw new Error(`navigate ${url}: ${errorText}`);
    const until = Date.now() + timeout;
    for (;;) {
      const ready = await this.evaluateExpression(
        `document.readyState === 'complete' && location.href === ${JSON.stringify(url)} && typeof H === 'object'`,
      ).catch(() => false);
      if (ready) return;
      if (Date.now() > until) throw new Error(`page ${url} did not load within ${timeout} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async evaluateExpression(expression) {
    const r = await this.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails)
      throw new Error(`in page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value;
  }

  /** Runs `fn(arg)` in the page (awaiting a returned promise) and returns its JSON value. */
  evaluate(fn, arg) {
    return this.evaluateExpression(`(${fn})(${arg === undefined ? '' : JSON.stringify(arg)})`);
  }

  /** Resolves once `fn(arg)` is truthy in the page, polled there every `every` ms. */
  async waitForFunction(fn, arg, { timeout = 20_000, every = 10 } = {}) {
    const ok = await this.evaluateExpression(
      `new Promise((resolve) => { const f = (${fn}); const a = ${JSON.stringify(arg ?? null)}; const until = Date.now() + ${timeout};` +
        ` (function poll() { let v = false; try { v = f(a); } catch {} if (v) return resolve(true); if (Date.now() > until) return resolve(false); setTimeout(poll, ${every}); })(); })`,
    );
    if (!ok) throw new Error(`timed out after ${timeout} ms waiting for ${String(fn).slice(0, 120)}`);
  }

  /** A heap snapshot's text (HeapProfiler.takeHeapSnapshot), after two forced GCs. */
  async heapSnapshot() {
    for (let i = 0; i < 2; i++) await this.send('HeapProfiler.collectGarbage');
    const chunks = [];
    const onEvent = (msg) => {
      if (msg.sessionId === this.sessionId && msg.method === 'HeapProfiler.addHeapSnapshotChunk')
        chunks.push(msg.params.chunk);
    };
    this.browser.conn.listeners.add(onEvent);
    try {
      await this.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    } finally {
      this.browser.conn.listeners.delete(onEvent);
    }
    return chunks.join('');
  }

  /** JS heap in use after a forced full GC. */
  async heap() {
    for (let i = 0; i < 2; i++) await this.send('HeapProfiler.collectGarbage');
    return this.send('Runtime.getHeapUsage');
  }

  async close() {
    await this.browser.conn.send('Target.closeTarget', { targetId: this.targetId }).catch(() => {});
    await this.browser.conn.send('Target.disposeBrowserContext', { browserContextId: this.contextId }).catch(() => {});
  }
}
