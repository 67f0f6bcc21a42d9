// share: tabSharing() in real Chromium, against the built reference server: tabs are pages of
// one browser context (one origin, one profile: the same Web Locks and BroadcastChannels).
//   1. 5 tabs on each transport: the server sees 1 session on 1 connection; 500 server messages
//      arrive once, in order, in every tab; 100 messages from each tab reach the server once
//      each, in order, and every send() resolves in its own tab.
//   2. The tab holding the connection closed mid-stream, 3 times in a row: nothing lost or
//      repeated in any surviving tab, either direction. 3. The same with its renderer crashed.
//   5. The tab holding the connection stands still mid-stream (CDP Debugger.pause: its main
//      thread runs nothing while its locks and connection stay, as a frozen or hung renderer's
//      do; headless Chromium does not freeze a visible page with Page.setWebLifecycleState), after
//      the Page Lifecycle 'freeze' event or without a word: another tab takes over, at once or
//      within 2 x heartbeat.timeout; nothing lost or repeated in any tab, either direction; and
//      when it runs again it follows (open, getting what came meanwhile and later, once).
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { launchBrowser } from './chromium';
import {
  expectClean,
  load,
  newPid,
  pageUrl,
  range,
  startFixture,
  TRANSPORTS,
  waitOpen,
  waitUntil,
  type Fixture,
  type OpenedPage,
} from './harness';
import { waitFor } from '../wait';

let browser: Browser;
let fx: Fixture;
/** Sessions the server created, and links attached to them (new or resumed), since the test began. */
let sessions: Array<{ send(data: unknown): boolean }>;
let links: number;

beforeAll(async () => {
  fx = await startFixture();
  fx.rt.on('connection', (session) => {
    sessions.push(session);
    links++;
    session.on('resume', () => links++);
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

beforeEach(() => {
  sessions = [];
  links = 0;
});

interface Tab extends OpenedPage {
  pid: string;
  alive: boolean;
}

/** One more tab of `context`, open on the shared connection (or its own, with share: false). */
async function openTab(context: BrowserContext, transport: string, share = true, opts = {}): Promise<Tab> {
  const page = await context.newPage();
  const tab: Tab = { context, page, log: [], pid: newPid(), alive: true };
  page.on('console', (m) => tab.log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => tab.log.push(`pageerror: ${e.stack ?? e.message}`));
  const url = pageUrl(fx.http.url, {
    build: 'esm',
    transport,
    pid: tab.pid,
    opts: { reconnect: { initialDelay: 50 }, ...opts },
  });
  await load(tab, url.replace('/rt-esm.html?', `/rt-share.html?share=${share ? 1 : 0}&`));
  return tab;
}

async function openTabs(context: BrowserContext, transport: string, n: number): Promise<Tab[]> {
  const tabs: Tab[] = [];
  for (let i = 0; i < n; i++) tabs.push(await openTab(context, transport));
  for (const t of tabs) await waitOpen(t);
  return tabs;
}

/** What rt-share.js adds to the page's T. */
interface ShareApi {
  leading(): boolean;
}

const pushes = (t: Tab) => t.page.evaluate(() => window.T.pushes('s'));

/** Waits until `tab` is open and has received more than `n` pushes: what the server sent after some moment. */
const receivingAfter = (tab: Tab, n: number, what: string) =>
  waitUntil(tab, (after) => window.T.client!.state === 'open' && window.T.pushes('s').length > after, n, what);

/** The one tab of `tabs` that holds the connection. */
async function holderOf(tabs: Tab[]): Promise<Tab> {
  const leaders = [];
  for (const x of tabs) if (await x.page.evaluate(() => (window.T as unknown as ShareApi).leading())) leaders.push(x);
  expect(leaders.length, 'one tab holds the connection').toBe(1);
  return leaders[0]!;
}

/** Every push arrived in every tab once, in order; the server got every tab's messages once, in order. */
async function expectExactlyOnce(tabs: Tab[], pushed: number): Promise<void> {
  for (const x of tabs) await x.page.evaluate(() => window.T.stopLoop());
  for (const x of tabs)
    await waitUntil(
      x,
      (n) => window.T.pushes('s').length >= n && window.T.settled('m').pending === 0,
      pushed,
      'every push arrived and every send() settled',
    );
  for (const x of tabs) {
    expect(await pushes(x), `pushes in ${x.pid}`).toEqual(range(pushed));
    const sent = await x.page.evaluate(() => window.T.settled('m'));
    expect(sent.rejected, `sends rejected in ${x.pid}`).toBe(0);
    expect(fx.got(x.pid, 'm'), `server got ${x.pid}'s messages once, in order`).toEqual(range(sent.total));
    await expectClean(x);
  }
}

describe.each(TRANSPORTS)('share on %s', (transport) => {
  it('1. 5 tabs: 1 session on 1 connection; 500 server messages once, in order, in every tab; 100 from each tab once each, every send() resolved in its tab', async (t) => {
    const context = await browser.newContext();
    t.onTestFinished(() => context.close());
    const tabs = await openTabs(context, transport, 5);
    expect(sessions.length, 'sessions').toBe(1);
    expect(links, 'connections').toBe(1);
    for (let i = 0; i < 500; i++) sessions[0]!.send({ push: 's', i });
    for (const tab of tabs) await tab.page.evaluate(() => window.T.send('m', 100));
    for (const tab of tabs)
      await waitUntil(
        tab,
        () => window.T.pushes('s').length >= 500 && window.T.settled('m').resolved === 100,
        undefined,
        '500 pushes arrived and 100 sends resolved',
      );
    for (const tab of tabs) {
      expect(await pushes(tab)).toEqual(range(500));
      expect(fx.got(tab.pid, 'm'), `server got ${tab.pid}'s messages`).toEqual(range(100));
      expect(await tab.page.evaluate(() => window.T.settled('m'))).toMatchObject({ resolved: 100, rejected: 0 });
      await expectClean(tab);
    }
    expect(sessions.length).toBe(1);
    expect(links).toBe(1);
  });

  for (const death of ['closed', 'crashed'] as const) {
    it(`${death === 'closed' ? 2 : 3}. the tab holding the connection ${death} mid-stream, 3 times in a row: nothing lost or repeated in any tab, either direction`, async (t) => {
      const context = await browser.newContext();
      t.onTestFinished(() => context.close());
      const tabs = await openTabs(context, transport, 5);
      let pushed = 0;
      const loop = setInterval(() => sessions[0]!.send({ push: 's', i: pushed++ }), 10);
      t.onTestFinished(() => clearInterval(loop));
      for (const tab of tabs) await tab.page.evaluate(() => window.T.sendLoop('m', 25));
      for (let round = 0; round < 3; round++) {
        const live = tabs.filter((x) => x.alive);
        const leaders = [];
        for (const x of live)
          if (await x.page.evaluate(() => (window.T as unknown as ShareApi).leading())) leaders.push(x);
        expect(leaders.length, 'one tab holds the connection').toBe(1);
        const leader = leaders[0]!;
        // Mid-stream: messages both ways in flight.
        const before = pushed;
        await waitFor(() => pushed > before + 10, { what: 'more pushes' });
        leader.alive = false;
        if (death === 'closed') await leader.page.close();
        else {
          const crashed = new Promise((resolve) => leader.page.once('crash', resolve));
          const cdp = await context.newCDPSession(leader.page);
          void cdp.send('Page.crash').catch(() => {});
          await crashed;
        }
        const rest = tabs.filter((x) => x.alive);
        const mark = pushed;
        for (const x of rest)
          await receivingAfter(x, mark, 'open again, receiving what the server sent after the death');
      }
      clearInterval(loop);
      await expectExactlyOnce(
        tabs.filter((x) => x.alive),
        pushed,
      );
      // The tabs that died: what the server got from them, it got once, in order.
      for (const x of tabs.filter((y) => !y.alive)) {
        const got = fx.got(x.pid, 'm');
        expect(got, `server got ${x.pid}'s messages once, in order`).toEqual(range(got.length));
      }
      expect(sessions.length, 'one session throughout').toBe(1);
    });
  }
});

describe('share: the tab holding the connection stands still', () => {
  /** heartbeat.timeout of these tabs: a silent holder is taken over from within 2 x this. */
  const TIMEOUT = 1500;
  for (const how of ['frozen', 'hung'] as const)
    it(`5. ${how === 'frozen' ? "frozen after the 'freeze' event: another tab takes over at once" : 'hung without a word: another tab takes over within 2 x heartbeat.timeout'}; nothing lost or repeated in any tab, either direction; woken, it follows`, async (t) => {
      const context = await browser.newContext();
      t.onTestFinished(() => context.close());
      const tabs: Tab[] = [];
      for (let i = 0; i < 3; i++)
        tabs.push(await openTab(context, 'websocket', true, { heartbeat: { timeout: TIMEOUT } }));
      for (const x of tabs) await waitOpen(x);
      let pushed = 0;
      const loop = setInterval(() => sessions[0]!.send({ push: 's', i: pushed++ }), 20);
      t.onTestFinished(() => clearInterval(loop));
      for (const tab of tabs) await tab.page.evaluate(() => window.T.sendLoop('m', 25));
      const holder = await holderOf(tabs);
      const before = pushed;
      await waitFor(() => pushed > before + 10, { what: 'more pushes' });
      const cdp = await context.newCDPSession(holder.page);
      await cdp.send('Debugger.enable');
      const stoodStill = Date.now();
      if (how === 'frozen') await holder.page.evaluate(() => document.dispatchEvent(new Event('freeze')));
      const paused = new Promise((resolve) => cdp.once('Debugger.paused', resolve));
      await cdp.send('Debugger.pause');
      await paused; // at its next statement: its send loop's timer
      const rest = tabs.filter((x) => x !== holder);
      const mark = pushed;
      for (const x of rest)
        await receivingAfter(x, mark, 'open again, receiving what the server sent after the holder stood still');
      const next = await holderOf(rest);
      const tookOver =
        (await next.page.evaluate(() => (window.T as unknown as { readyAt: number }).readyAt)) - stoodStill;
      const bound = how === 'frozen' ? 0 : 2 * TIMEOUT;
      expect(tookOver, 'ms from standing still to the next holder ready').toBeLessThan(bound + 1500);
      await cdp.send('Debugger.resume');
      if (how === 'frozen') await holder.page.evaluate(() => document.dispatchEvent(new Event('resume')));
      const woke = pushed;
      await receivingAfter(holder, woke, 'following: open, receiving what the server sent after it woke');
      expect(await holderOf(tabs)).toBe(next);
      clearInterval(loop);
      await expectExactlyOnce(tabs, pushed);
      expect(sessions.length, 'one session throughout').toBe(1);
      console.log(`share: ${how} holder taken over in ${tookOver} ms (bound ${bound} ms)`);
    });
});

// Over HTTP/1.1 a browser opens at most 6 connections to one origin, and an SSE stream holds one
// for as long as it is open; our SSE transport also POSTs what it sends. Without sharing, 5 tabs
// take 5 connections, the 6th tab's stream takes the last one, and its hello cannot go out: it
// stalls (a 7th could not even load its page). With sharing, 10 tabs hold one stream.
describe('share: 10 tabs on sse to one HTTP/1.1 origin', () => {
  it('4. with share, all 10 tabs receive; without it, the 6th stalls until another tab lets its connection go', async (t) => {
    const shared = await browser.newContext();
    t.onTestFinished(() => shared.close());
    const tabs = await openTabs(shared, 'sse', 10);
    expect(sessions.length, 'sessions with share').toBe(1);
    for (let i = 0; i < 10; i++) sessions[0]!.send({ push: 's', i });
    for (const tab of tabs)
      await waitUntil(tab, () => window.T.pushes('s').length >= 10, undefined, '10 pushes arrived');
    for (const tab of tabs) expect(await pushes(tab)).toEqual(range(10));
    await shared.close();

    sessions = [];
    const own = await browser.newContext();
    t.onTestFinished(() => own.close());
    const five: Tab[] = [];
    for (let i = 0; i < 5; i++) five.push(await openTab(own, 'sse', false));
    for (const tab of five) await waitOpen(tab);
    expect(sessions.length, 'sessions without share').toBe(5);
    const sixth = await openTab(own, 'sse', false);
    // While the 6th waits, the 5 others still work: a message pushed now reaches them all...
    for (const s of sessions) s.send({ push: 'after', i: 0 });
    for (const tab of five)
      await waitUntil(
        tab,
        () => window.T.pushes('after').length === 1,
        undefined,
        'the push after the 6th tab started',
      );
    // ...and the 6th has not got its session.
    expect(sessions.length, 'the 6th tab stalls').toBe(5);
    expect(await sixth.page.evaluate(() => window.T.client!.state)).toBe('connecting');
    // One tab goes: its connection comes free, and the 6th goes through.
    await five[0]!.page.close();
    await waitOpen(sixth);
    expect(sessions.length).toBe(6);
  });
});
