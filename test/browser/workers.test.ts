// The client in workers, in real Chromium, against the built reference server (127.0.0.1, port 0):
//   1. a dedicated module worker running the npm ESM build (dist/index.js, bundled by esbuild as an
//      app's bundler would: the build imports eventsource-parser by name), and
//   2. a classic Service Worker running the IIFE build through importScripts,
//   each over every transport (WebSocket, SSE, fetch-stream, long-poll): messages both ways arrive once, in order, and every
//      send() resolves (acknowledged by the server);
//   3. SSE: Chromium has EventSource in both kinds of worker (where a runtime has none, the client
//      leaves sse out of its list: test/integration/node.test.ts shows that in Node);
//   4. the browser stopping a Service Worker (as it does after ~30 s idle) drops its connection;
//      the next event starts the script again, which connects as a new session.
// The workers load test/browser/pages/rt-page.js, which records into self.T as pages do.
import { build } from 'esbuild';
import type { Browser, Worker } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { waitFor } from '../wait';
import { launchBrowser } from './chromium';
import { newPage, newPid, range, root, startFixture, TRANSPORTS, type Fixture, type OpenedPage } from './harness';

let browser: Browser;
let fx: Fixture;
let moduleWorker: Uint8Array;

const BUNDLE = '/bundles/rt-module-worker.js';
const SW = '/test/browser/pages/rt-sw.js';

beforeAll(async () => {
  const out = await build({
    absWorkingDir: root,
    entryPoints: ['test/browser/pages/rt-module-worker.js'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'error',
    // package.json says "sideEffects": false, which would drop the import of rt-page.js: that
    // script is all side effects (it sets self.T).
    ignoreAnnotations: true,
  });
  moduleWorker = out.outputFiles[0]!.contents;
  fx = await startFixture({
    static: {
      routes: (_req, res, url) => {
        if (url.pathname === '/favicon.ico') res.writeHead(204).end();
        else if (url.pathname === BUNDLE)
          res
            .writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' })
            .end(moduleWorker);
        else return false;
        return true;
      },
    },
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

/** A worker script's URL with the query rt-page.js reads. */
function scriptUrl(path: string, pid: string, query: { transport?: string; opts?: object }): string {
  const q = new URLSearchParams({ pid });
  if (query.transport) q.set('transport', query.transport);
  if (query.opts) q.set('opts', JSON.stringify(query.opts));
  return `${path}?${q}`;
}

interface Started {
  p: OpenedPage;
  worker: Worker;
  pid: string;
}

async function openPage(t: TestContext) {
  const p = await newPage(browser, t.onTestFinished);
  const response = await p.page.goto(`${fx.http.url}/test/browser/pages/workers.html`);
  expect(response?.status()).toBe(200);
  return p;
}

/** A page that starts the module worker; the worker's client connects at once. */
async function startModuleWorker(t: TestContext, query: { transport?: string; opts?: object }): Promise<Started> {
  const p = await openPage(t);
  const pid = newPid();
  const [worker] = await Promise.all([
    p.page.waitForEvent('worker'),
    p.page.evaluate(
      (src) => {
        // Kept on the page, so nothing can collect it.
        (self as unknown as { worker: globalThis.Worker }).worker = new Worker(src, { type: 'module' });
      },
      scriptUrl(BUNDLE, pid, query),
    ),
  ]);
  return { p, worker, pid };
}

/** A page that registers the Service Worker; its client connects when its script runs. */
async function startServiceWorker(t: TestContext, query: { transport?: string; opts?: object }): Promise<Started> {
  const p = await openPage(t);
  const pid = newPid();
  const [worker] = await Promise.all([
    p.context.waitForEvent('serviceworker'),
    p.page.evaluate(async (src) => void (await navigator.serviceWorker.register(src)), scriptUrl(SW, pid, query)),
  ]);
  return { p, worker, pid };
}

/** What the worker's rt-page.js recorded, for polling and failure messages. */
const report = (worker: Worker) =>
  worker.evaluate(() => ({
    state: self.T.client?.state,
    transport: self.T.client?.transport,
    opens: self.T.opens.map((o) => ({ transport: o.transport, resumed: o.resumed })),
    errors: self.T.errors,
    rtErrors: self.T.rtErrors,
  }));

async function waitOpen(s: Started): Promise<void> {
  await waitFor(async () => (await report(s.worker)).state === 'open', {
    what: 'the worker client opened',
    timeout: 20_000,
    every: 50,
  });
  await waitFor(() => fx.sessions.has(s.pid), { what: `the worker's session registered`, timeout: 1000 });
}

/** The worker sends `n` of `tag` while the server pushes `n`: each arrives once, in order, and every send() resolves. */
async function exchangeIn(s: Started, tag: string, n: number): Promise<void> {
  await s.worker.evaluate(([t, k]) => self.T.send(t, k), [tag, n] as const);
  fx.push(s.pid, tag, n);
  const seen = () =>
    s.worker.evaluate((t) => ({ echoes: self.T.echoes(t), pushes: self.T.pushes(t), settled: self.T.settled(t) }), tag);
  await expect
    .poll(seen, { timeout: 20_000, message: `'${tag}' both ways, every send() acknowledged` })
    .toEqual({ echoes: range(n), pushes: range(n), settled: { pending: 0, resolved: n, rejected: 0, total: n } });
  expect(fx.got(s.pid, tag), `the server received each '${tag}' once, in order`).toEqual(range(n));
}

/** Nothing went wrong inside the worker, and one connection did it all. */
async function expectClean(s: Started, transport: string): Promise<void> {
  const r = await report(s.worker);
  expect(r, JSON.stringify(r)).toMatchObject({
    transport,
    errors: [],
    rtErrors: [],
    opens: [{ transport, resumed: false }],
  });
  expect(fx.errors).toEqual([]);
}

const HOSTS = [
  ['1. a dedicated module worker (ESM build, bundled)', startModuleWorker],
  ['2. a Service Worker (IIFE build, importScripts)', startServiceWorker],
] as const;

describe('the client in workers', () => {
  describe.each(HOSTS)('%s', (_name, start) => {
    for (const transport of TRANSPORTS) {
      it(`over ${transport}: messages both ways arrive once, in order, every send() acknowledged`, async (t) => {
        const s = await start(t, { transport });
        // 3. Chromium has EventSource in both kinds of worker (without one, the client would leave sse out).
        expect(await s.worker.evaluate(() => typeof EventSource)).toBe('function');
        await waitOpen(s);
        await exchangeIn(s, 'a', 50);
        await exchangeIn(s, 'b', 20);
        await expectClean(s, transport);
      });
    }
  });

  it('4. a stopped Service Worker loses its connection; the next event runs the script again, which connects as a new session', async (t) => {
    const s = await startServiceWorker(t, { transport: 'websocket' });
    await waitOpen(s);
    await exchangeIn(s, 'a', 5);
    const first = fx.sessions.get(s.pid)!;
    let disconnected = 0;
    first.on('disconnect', () => disconnected++);

    // What the browser does to an idle Service Worker, on demand.
    const cdp = await s.p.context.newCDPSession(s.p.page);
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.stopAllWorkers');
    await waitFor(() => disconnected === 1, {
      what: "the server to see the worker's connection drop",
      timeout: 20_000,
    });
    expect(first.connected).toBe(false);

    // A message to the stopped worker starts it again: its script runs anew, with a new client.
    await s.p.page.evaluate(async () => (await navigator.serviceWorker.ready).active!.postMessage('wake up'));
    await waitFor(() => fx.sessions.get(s.pid) !== first, { what: 'a new session registered', timeout: 20_000 });
    // Playwright reattaches its handle to the restarted worker.
    const [again] = s.p.context.serviceWorkers();
    const restarted = { ...s, worker: again! };
    await waitOpen(restarted);
    expect((await report(again!)).opens, 'a fresh client: nothing to resume from').toEqual([
      { transport: 'websocket', resumed: false },
    ]);
    await exchangeIn(restarted, 'b', 5);
    expect(first.connected, 'the old session was never resumed').toBe(false);
  });
});
