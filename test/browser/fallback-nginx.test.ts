// Issue 17's fallback bound, through a real nginx (Debian's nginx-light, its own instance on a free
// port, stopped by pid) in front of the reference server, configured as a proxy that buffers
// streams: proxy_buffering on, gzip on text/event-stream and the rest, the server's
// X-Accel-Buffering ignored, HTTP/1.1 to the server, and WebSocket not forwarded (no Upgrade nor
// Connection header passed on). Through it the WebSocket upgrade is refused at once, the sse and
// fetch-stream streams open but deliver nothing (their bytes wait in nginx's buffers), and only
// long-poll delivers. A fresh page (a new browser context: nothing remembered in sessionStorage)
// with the default transports must be open on long-poll within 6 s of its constructor, measured
// in the page: the transports of an attempt race (fallbackAfter). With fallbackAfter: Infinity,
// one transport at a time as before, it is not (it waited heartbeat.timeout on sse, then on
// fetch-stream: about 20 s).
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxySite, serviceScope, type Nginx } from '../services/index';
import { waitFor } from '../wait';
import { launchBrowser } from './chromium';
import {
  exchange,
  expectClean,
  newPage,
  newPid,
  pageUrl,
  startFixture,
  waitUntil,
  type Fixture,
  type OpenedPage,
} from './harness';

/** The issue asks for 3 s; the test allows twice that, for a loaded machine. */
const BOUND_MS = 6000;

const services = serviceScope({ lifetime: 'file', needs: ['nginx'] });
let browser: Browser;
let fx: Fixture;
let nginx: Nginx;

beforeAll(async () => {
  fx = await startFixture();
  nginx = await services.nginx({ backends: [], site: proxySite(fx.http.port, { buffering: true }) });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

/**
 * A fresh page from nginx (so its endpoint, '/realtime', is behind nginx too) whose client is not
 * started yet; checks that the context remembers no transport.
 */
async function freshPage(onTestFinished: (fn: () => Promise<void>) => void): Promise<{ p: OpenedPage; pid: string }> {
  const p = await newPage(browser, onTestFinished);
  const pid = newPid();
  const url = pageUrl(nginx.url, { pid, auto: false });
  expect((await p.page.goto(url))?.status(), `GET ${url}`).toBe(200);
  await waitUntil(p, () => !!window.T?.lib, undefined, 'the page loaded the library');
  expect(await p.page.evaluate(() => sessionStorage.length), 'sessionStorage of a fresh context').toBe(0);
  return { p, pid };
}

describe('a fresh page behind nginx buffering streams, WebSocket not forwarded', () => {
  it('default transports: open on long-poll within 6 s of the constructor, and a message goes both ways once', async ({
    onTestFinished,
  }) => {
    const { p, pid } = await freshPage(onTestFinished);
    await p.page.evaluate(() => void window.T.start());
    await waitUntil(p, () => window.T.opens.length > 0, undefined, 'the client opened', BOUND_MS + 20_000);
    const { opens, transports } = await p.page.evaluate(() => ({
      opens: window.T.opens,
      transports: window.T.transports,
    }));
    expect(opens[0]!.transport, 'the only transport that delivers through this proxy').toBe('long-poll');
    expect(opens[0]!.ms, `ms from the constructor to 'open' (bound ${BOUND_MS})`).toBeLessThanOrEqual(BOUND_MS);
    expect(transports).toEqual(['long-poll']);

    // Opened on a transport that delivers: the page's registration reached the server, and a
    // message goes each way once.
    await waitFor(() => fx.sessions.has(pid), { what: `session of ${pid} registered`, timeout: 5000 });
    await exchange(p, fx, pid, 'through-nginx', 1);

    // The others were tried through nginx, and lost: the upgrade reached the server as a plain GET
    // (refused), and the two streams were closed by the page once long-poll had won (nginx logs a
    // request when it ends: 499, the client closed it).
    const tried = await waitFor(
      () => {
        const uris = nginx.accessLog().map((e) => e.uri);
        const has = (t: string) => uris.some((u) => u.startsWith('/realtime?') && u.includes(`transport=${t}`));
        return has('sse') && has('fetch-stream') ? uris : undefined;
      },
      { what: "nginx's log of the sse and fetch-stream requests" },
    );
    const upgrades = nginx.accessLog().filter((e) => e.upgrade === 'websocket');
    expect(upgrades.length, `WebSocket upgrades in nginx's log: ${JSON.stringify(tried)}`).toBeGreaterThan(0);
    expect(upgrades.every((e) => e.status >= 400)).toBe(true);
    await expectClean(p);
  });

  it('with fallbackAfter: Infinity (one transport at a time, as before the race) it is not open within 6 s', async ({
    onTestFinished,
  }) => {
    const { p } = await freshPage(onTestFinished);
    await p.page.evaluate(() => void window.T.start({ fallbackAfter: Infinity }));
    // A bound in time is the condition here: 6 s on the page's clock since the constructor.
    await waitUntil(
      p,
      (ms) => window.T.startedAt !== null && performance.now() - window.T.startedAt >= ms,
      BOUND_MS,
      `${BOUND_MS} ms since the constructor`,
      BOUND_MS + 20_000,
    );
    const { state, opens } = await p.page.evaluate(() => ({ state: window.T.client?.state, opens: window.T.opens }));
    // An open after the bound (between the wait and this read) is the old behaviour too.
    expect(
      opens.filter((o) => o.ms <= BOUND_MS),
      `opens within the bound (state now: ${state})`,
    ).toEqual([]);
    await expectClean(p);
  });
});
