// Real-browser smoke tests of the built bundles (needs `npm run build` first):
//  - dist/realtime.min.js as a classic <script> (global `Realtime`);
//  - dist/index.js as a native ES module, eventsource-parser resolved by an import map.
// Both pages are served with a strict CSP (no inline script except the hashed import map).
// The reference server, on the same http.Server, echoes every message back as { echo: data }.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RealtimeServer } from '../../src/server/index';
import { launchBrowser } from './chromium';
import { serveStatic, type StaticServer } from './static-server';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface PageState {
  label: string | null;
  received: unknown[];
  acks: unknown[];
  errors: string[];
}
declare global {
  interface Window {
    __rt?: PageState;
  }
}

let http: StaticServer | undefined;
let rt: RealtimeServer | undefined;
let browser: Browser | undefined;
const serverReceived: unknown[] = [];
const serverErrors: string[] = [];

beforeAll(async () => {
  for (const file of ['dist/realtime.min.js', 'dist/index.js']) {
    if (!existsSync(`${root}/${file}`)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  }
  http = await serveStatic({
    root,
    csp: true,
    routes: (req, res, url) => {
      if (url.pathname !== '/favicon.ico') return false;
      res.writeHead(204).end();
      return true;
    },
  });
  const realtime = new RealtimeServer({ server: http.server, path: '/realtime' });
  rt = realtime;
  realtime.on('connection', (session) => {
    session.on('message', (data: unknown) => {
      serverReceived.push(data);
      Promise.resolve(session.send({ echo: data })).catch((err: unknown) => serverErrors.push(String(err)));
    });
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await rt?.close();
  await http?.close();
});

let context: BrowserContext | undefined;
afterEach(async () => {
  await context?.close();
  context = undefined;
});

/** Opens `page` and waits until it got { echo: { hello: label } } back and its send() was acked. */
async function expectEcho(pagePath: string, label: string): Promise<void> {
  if (!browser || !http) throw new Error('setup failed');
  context = await browser.newContext();
  const page: Page = await context.newPage();
  const log: string[] = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.stack ?? e.message}`));
  page.on('requestfailed', (r) => log.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => {
    if (r.status() >= 400) log.push(`HTTP ${r.status()}: ${r.url()}`);
  });

  const response = await page.goto(`${http.url}${pagePath}`);
  expect(response?.status(), `GET ${pagePath}`).toBe(200);

  const state = async () => page.evaluate(() => window.__rt ?? null);
  try {
    await page.waitForFunction(
      (want) => {
        const s = window.__rt;
        if (!s) return false;
        if (s.errors.length > 0) return true; // stop waiting, the assertions below report it
        const echoed = s.received.some((d) => {
          const echo = (d as { echo?: { hello?: unknown } } | null)?.echo;
          return echo?.hello === want;
        });
        return echoed && s.acks.length > 0;
      },
      label,
      { timeout: 20_000, polling: 50 },
    );
  } catch (err) {
    throw new Error(
      `${pagePath}: no echo/ack within 20 s. Page state: ${JSON.stringify(await state())}\n` +
        `server received: ${JSON.stringify(serverReceived)}; server errors: ${JSON.stringify(serverErrors)}\n` +
        `page log:\n  ${log.join('\n  ') || '(empty)'}`,
      { cause: err },
    );
  }

  const s = await state();
  const context_ = `page log:\n  ${log.join('\n  ') || '(empty)'}`;
  expect(s?.errors ?? [], context_).toEqual([]);
  expect(
    log.filter((l) => l.startsWith('pageerror') || /Content.Security.Policy/i.test(l)),
    context_,
  ).toEqual([]);
  expect(s?.received, context_).toContainEqual({ echo: { hello: label } });
  expect(serverReceived).toContainEqual({ hello: label });
  expect(serverErrors).toEqual([]);
}

describe('browser bundles (Chromium)', () => {
  it('IIFE: <script src="/dist/realtime.min.js"> → new Realtime.RealtimeClient(url) round-trips a message', async () => {
    await expectEcho('/test/browser/pages/iife.html', 'iife');
  });

  it('ESM: <script type="module"> importing /dist/index.js (import map for eventsource-parser) round-trips a message', async () => {
    await expectEcho('/test/browser/pages/esm.html', 'esm');
  });
});
