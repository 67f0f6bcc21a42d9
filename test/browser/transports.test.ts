// Every transport in real Chromium, on the built bundles, against the built reference server
// (127.0.0.1, port 0), with the pages under a strict CSP:
//   1, 5. IIFE and ESM builds under a strict Content-Security-Policy: messages both ways arrive
//      once and in order; no CSP violation, no page error (every test of the suite checks that);
//   2. offline (context.setOffline) while the page keeps sending: the messages wait, then all go
//      out exactly once, in order, and every send() resolves;
//   3. WebSocket refused: the default transport list falls back and works (not per transport).
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { waitFor } from '../wait';
import { launchBrowser } from './chromium';
import {
  exchange,
  expectClean,
  load,
  newPage,
  newPid,
  openOn,
  pageSummary,
  pageUrl,
  range,
  startFixture,
  TRANSPORTS,
  waitOpen,
  waitUntil,
  type Fixture,
} from './harness';

let browser: Browser;
let fx: Fixture;

beforeAll(async () => {
  fx = await startFixture();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

// Each test has its own context, page id and, where needed, server. They run one at a time:
// concurrently they were slower on a loaded 2-core machine.
describe('browser transports', () => {
  describe.each(TRANSPORTS)('transport %s', (transport) => {
    for (const build of ['iife', 'esm'] as const) {
      it(`1, 5. ${build.toUpperCase()} build under a strict CSP: messages both ways arrive once, in order; no CSP violation, no page error`, async (t) => {
        const p = await newPage(browser, t.onTestFinished);
        const pid = newPid();
        const response = await p.page.goto(pageUrl(fx.http.url, { build, transport, pid }));
        expect(response?.status()).toBe(200);
        const csp = response?.headers()['content-security-policy'] ?? '';
        // The policy really is strict: no unsafe-*, scripts from this origin (+ the import map's hash).
        expect(csp).toMatch(/script-src 'self'( 'sha256-[A-Za-z0-9+/=]+')*;/);
        expect(csp).toContain("default-src 'none'");
        expect(csp).not.toMatch(/unsafe-(inline|eval|hashes)|\*/);
        if (build === 'esm') expect(csp, 'the import map is allowed by its hash').toMatch(/'sha256-/);
        else expect(csp).not.toMatch(/'sha256-/);
        await waitOpen(p);
        await waitFor(() => fx.sessions.has(pid), { what: `session of ${pid} registered`, timeout: 1000 });
        expect(await p.page.evaluate(() => window.T.client?.transport)).toBe(transport);

        await exchange(p, fx, pid, 'a', 200);
        // A second round, spread over several tasks, on the same connection.
        for (let k = 0; k < 5; k++) await p.page.evaluate(() => window.T.send('b', 10));
        fx.push(pid, 'b', 50);
        await waitUntil(
          p,
          () =>
            window.T.echoes('b').length >= 50 &&
            window.T.pushes('b').length >= 50 &&
            window.T.settled('b').resolved === 50,
          undefined,
          "50 'b' each way",
        );
        expect(fx.got(pid, 'b')).toEqual(range(50));
        expect(await p.page.evaluate(() => [window.T.echoes('b'), window.T.pushes('b')])).toEqual([
          range(50),
          range(50),
        ]);
        expect(await p.page.evaluate(() => window.T.opens.length), 'one connection was enough').toBe(1);
        expect(fx.errors).toEqual([]);
        await expectClean(p);
      });
    }

    it('2. offline while sending: messages wait, then go out exactly once, in order; every send() resolves', async (t) => {
      const { p, pid } = await openOn(browser, fx, transport, { onTestFinished: t.onTestFinished });
      await exchange(p, fx, pid, 'before', 5);

      await p.context.setOffline(true);
      await waitUntil(
        p,
        () => window.T.lifecycle.some((e) => e.type === 'offline') && !navigator.onLine,
        undefined,
        "the page saw 'offline'",
      );
      await p.page.evaluate(() => window.T.sendLoop('off', 20));
      // Keep sending for a while (20 messages, ~400 ms) with the network down.
      await waitUntil(p, () => window.T.settled('off').total >= 20, undefined, '20 messages sent while offline');
      const during = await p.page.evaluate(() => ({
        state: window.T.client!.state,
        states: window.T.states.slice(),
        settled: window.T.settled('off'),
      }));
      const why = `${JSON.stringify(during)}\n${await pageSummary(p)}`;
      // The messages wait: the client is reconnecting (HTTP transports: their requests fail), or
      // still 'open' with every send() pending (WebSocket: Chromium's offline emulation holds the
      // socket's frames without closing it). None has been acknowledged, none reached the server.
      expect(during.state === 'reconnecting' || during.settled.pending === during.settled.total, why).toBe(true);
      expect(during.settled.resolved, `no send() resolved while offline\n${why}`).toBe(0);
      expect(during.settled.rejected, why).toBe(0);
      expect(fx.got(pid, 'off'), `the server got nothing while the browser was offline\n${why}`).toEqual([]);

      await p.context.setOffline(false);
      const before = during.settled.total;
      // Still sending while the client reconnects; stop once 10 more went out after 'online'.
      await waitUntil(
        p,
        (n) => window.T.client!.state === 'open' && window.T.settled('off').total >= n + 10,
        before,
        'open again, 10 more sent',
      );
      await p.page.evaluate(() => window.T.stopLoop());
      const total = await p.page.evaluate(() => window.T.settled('off').total);
      await waitUntil(
        p,
        (n) => window.T.settled('off').resolved === n && window.T.echoes('off').length >= n,
        total,
        `all ${total} 'off' sends resolved and echoed`,
      );

      const after = await p.page.evaluate(() => ({
        settled: window.T.settled('off'),
        echoes: window.T.echoes('off'),
        states: window.T.states,
        lifecycle: window.T.lifecycle.map((e) => e.type),
      }));
      expect(after.settled).toEqual({ pending: 0, resolved: total, rejected: 0, total });
      expect(fx.got(pid, 'off'), 'the server got each message exactly once, in order').toEqual(range(total));
      expect(after.echoes).toEqual(range(total));
      expect(after.lifecycle).toEqual(expect.arrayContaining(['offline', 'online']));
      // And the connection still works both ways.
      await exchange(p, fx, pid, 'after', 10);
      await expectClean(p);
    });
  });

  describe('3. WebSocket refused: the default transport list falls back and works', () => {
    /** A fixture of its own, closed when the test ends. */
    async function fixture(t: TestContext, options?: Parameters<typeof startFixture>[0]): Promise<Fixture> {
      const f = await startFixture(options);
      t.onTestFinished(() => f.close());
      return f;
    }

    async function checkFallback(t: TestContext, f: Fixture): Promise<void> {
      const p = await newPage(browser, t.onTestFinished);
      const pid = newPid();
      await load(p, pageUrl(f.http.url, { pid })); // no transport forced: the default list
      await waitOpen(p);
      await waitFor(() => f.sessions.has(pid), { what: `session of ${pid} registered`, timeout: 1000 });
      const seen = await p.page.evaluate(() => ({
        transport: window.T.client!.transport,
        states: window.T.states,
        transports: window.T.transports,
        closes: window.T.closes,
      }));
      const why = `${JSON.stringify(seen)}\n${await pageSummary(p)}`;
      expect(f.upgrades, `the client tried WebSocket first\n${why}`).toBeGreaterThanOrEqual(1);
      expect(seen.transport, why).toBe('sse');
      expect(seen.transports, why).toEqual(['sse']);
      // Within the same attempt: no 'reconnecting' (no backoff wait) on the way.
      expect(seen.states, why).toEqual(['connecting', 'open']);
      await exchange(p, f, pid, 'fb', 30);

      // The next page load remembers the transport that worked (sessionStorage): no WebSocket try.
      const upgrades = f.upgrades;
      const pid2 = newPid();
      await load(p, pageUrl(f.http.url, { pid: pid2 }));
      await waitOpen(p);
      await waitFor(() => f.sessions.has(pid2), { what: `session of ${pid2} registered`, timeout: 1000 });
      expect(await p.page.evaluate(() => window.T.client!.transport)).toBe('sse');
      expect(f.upgrades, 'no WebSocket attempt after a reload').toBe(upgrades);
      await exchange(p, f, pid2, 'fb2', 10);
      await expectClean(p);
    }

    it("server offers no WebSocket (transports: ['sse', 'fetch-stream', 'long-poll']): ends on sse", async (t) => {
      await checkFallback(t, await fixture(t, { rt: { transports: ['sse', 'fetch-stream', 'long-poll'] } }));
    });

    it('the WebSocket upgrade is destroyed (a proxy that drops upgrades): ends on sse', async (t) => {
      const f = await fixture(t);
      const server = f.http.server;
      server.removeAllListeners('upgrade');
      server.on('upgrade', (_req, socket) => {
        f.upgrades++;
        socket.destroy();
      });
      await checkFallback(t, f);
    });
  });
});
