// 4. Page lifecycle, per transport, with Chromium's back/forward cache on (as users have it):
//  - hidden and shown: visibilitychange with an emulated document.visibilityState (headless
//    Chromium keeps the page visible, and CDP Page.setWebLifecycleState 'frozen' does not freeze
//    a visible page); what the server pushed and the page sent meanwhile arrives once, in order;
//  - pagehide/pageshow: navigate away and back (page.goBack). Restored from the bfcache (that
//    also really hides, freezes and resumes the page): still working, and nothing the server
//    pushed meanwhile is lost or repeated. Not restored: a fresh load that connects and works.
//    Each transport runs with its pages served 'Cache-Control: no-cache' (in this Chromium: all
//    restored). Pages served 'no-store' are never restored (MainResourceHasCacheControlNoStore,
//    and WebSocketUsedWithCCNS once they used a WebSocket), the common case of a WebSocket page:
//    that reload branch runs for websocket (it does not depend on the transport otherwise).
//    Which branch happened is printed.
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../wait';
import { launchBrowser } from './chromium';
import {
  exchange,
  expectClean,
  openOn,
  range,
  startFixture,
  TRANSPORTS,
  waitOpen,
  waitUntil,
  type Fixture,
  type OpenedPage,
} from './harness';

let browser: Browser;
let fx: Fixture;
/** The same, serving its pages with `Cache-Control: no-store`. */
let noStore: Fixture;
let opened: OpenedPage | undefined;

beforeAll(async () => {
  fx = await startFixture({ static: { htmlCacheControl: 'no-cache' } });
  noStore = await startFixture();
  browser = await launchBrowser({ backForwardCache: true });
});

afterAll(async () => {
  await browser?.close();
  await fx?.close();
  await noStore?.close();
});

afterEach(async () => {
  await opened?.context.close();
  opened = undefined;
});

async function open(transport: string, f = fx): Promise<{ p: OpenedPage; pid: string }> {
  const r = await openOn(browser, f, transport);
  opened = r.p;
  return r;
}

describe.each(TRANSPORTS)('transport %s', (transport) => {
  it('4a. hidden and shown again: what was pushed and sent while hidden arrives once, in order', async () => {
    const { p, pid } = await open(transport);
    await exchange(p, fx, pid, 'pre', 5);

    await p.page.evaluate(() => window.T.emulateVisibility('hidden'));
    fx.push(pid, 'hidden', 50);
    await p.page.evaluate(() => window.T.send('hidden', 20));
    await waitUntil(
      p,
      () => window.T.pushes('hidden').length >= 50 && window.T.settled('hidden').resolved === 20,
      undefined,
      'the traffic of the hidden page went through',
    );
    await p.page.evaluate(() => window.T.emulateVisibility('visible'));
    fx.push(pid, 'hidden', 50, 50);
    await p.page.evaluate(() => window.T.send('hidden', 20));
    await waitUntil(
      p,
      () =>
        window.T.pushes('hidden').length >= 100 &&
        window.T.settled('hidden').resolved === 40 &&
        window.T.echoes('hidden').length >= 40,
      undefined,
      'all traffic arrived after the page was shown',
    );

    const seen = await p.page.evaluate(() => ({
      pushes: window.T.pushes('hidden'),
      echoes: window.T.echoes('hidden'),
      settled: window.T.settled('hidden'),
      lifecycle: window.T.lifecycle.map((e) => `${e.type}:${e.visibility ?? ''}`),
      state: window.T.client!.state,
    }));
    expect(seen.lifecycle).toEqual(expect.arrayContaining(['visibilitychange:hidden', 'visibilitychange:visible']));
    expect(seen.pushes).toEqual(range(100));
    expect(seen.echoes).toEqual(range(40));
    expect(seen.settled).toEqual({ pending: 0, resolved: 40, rejected: 0, total: 40 });
    expect(fx.got(pid, 'hidden')).toEqual(range(40));
    expect(seen.state).toBe('open');
    await exchange(p, fx, pid, 'post', 10);
    await expectClean(p);
  });

  for (const cache of transport === 'websocket' ? (['no-cache', 'no-store'] as const) : (['no-cache'] as const)) {
    it(`4b. pagehide/pageshow (away and back), pages served ${cache}: restored and still working, or reloaded and reconnecting`, async () => {
      const f = cache === 'no-store' ? noStore : fx;
      const { p, pid } = await open(transport, f);
      await exchange(p, f, pid, 'pre', 5);
      const before = await p.page.evaluate(() => window.T.loadId);

      const away = await p.page.goto(`${f.http.url}/test/browser/pages/away.html`);
      expect(away?.status()).toBe(200);
      f.push(pid, 'away', 30); // to the session the page had: a restored page must get them all
      // 'commit': a page restored from the bfcache fires no 'load'.
      await p.page.goBack({ waitUntil: 'commit' });
      await waitUntil(p, () => !!window.T?.client, undefined, 'the page is back');
      const back = await p.page.evaluate(() => ({
        loadId: window.T.loadId,
        lifecycle: window.T.lifecycle.map((e) => `${e.type}${e.persisted ? '(persisted)' : ''}`),
      }));
      const restored = back.loadId === before;

      if (restored) {
        // It really went through pagehide, hidden, frozen, resumed, shown.
        expect(back.lifecycle).toEqual(
          expect.arrayContaining(['pagehide(persisted)', 'freeze', 'resume', 'pageshow(persisted)']),
        );
        await waitUntil(
          p,
          () => window.T.pushes('away').length >= 30,
          undefined,
          'the 30 pushes made while away arrived',
        );
        expect(await p.page.evaluate(() => window.T.pushes('away'))).toEqual(range(30));
        await waitOpen(p);
        await exchange(p, f, pid, 'post', 10);
      } else {
        await waitOpen(p);
        await waitFor(() => f.sessions.get(pid)?.connected === true, {
          what: `session of ${pid} connected`,
          timeout: 1000,
        });
        const opens = await p.page.evaluate(() => window.T.opens);
        expect(opens[0]?.resumed, 'a reloaded page starts a new session').toBe(false);
        await exchange(p, f, pid, 'post', 10);
      }
      const after = await p.page.evaluate(() => ({
        states: window.T.states,
        opens: window.T.opens.map((o) => (o.resumed ? 'resumed' : 'new')),
        closes: window.T.closes.map((c) => c.code),
      }));
      console.info(
        `[${transport}, ${cache}] back/forward: ${restored ? 'restored from the bfcache' : 'reloaded'}; ` +
          `lifecycle ${back.lifecycle.join(' ')}; states ${after.states.join(' ')}; opens ${after.opens.join(' ')}; closes ${after.closes.join(' ') || '-'}`,
      );
      await expectClean(p);
    });
  }
});
