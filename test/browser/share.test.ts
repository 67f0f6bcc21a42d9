// share: tabSharing() in real Chromium, against the built reference server: tabs are pages of
// one browser context (one origin, one profile: the same Web Locks and BroadcastChannels).
//   1. 5 tabs on each transport: the server sees 1 session on 1 connection; 500 server messages
//      arrive once, in order, in every tab; 100 messages from each tab reach the server once
//      each, in order, and every send() resolves in its own tab.
//   2. The tab holding the connection closed mid-stream, 3 times in a row: nothing lost or
//      repeated in any surviving tab, either direction. 3. The same with its renderer crashed.
//   5. Plain mode, on a plain SSE endpoint that honours Last-Event-ID (read with 'fetch-stream'):
//      3 tabs, the holder closed mid-stream: one connection at a time; every tab gets each event
//      once, in order; the next holder resumed from the last event id; each send() once.
//   6. queue.persist: 3 tabs send while the browser is offline, the holder is closed, then the
//      browser is back online: each tab's messages reach the server once each, in order.
//   7. The tab holding the connection stands still mid-stream (CDP Debugger.pause: its main
//      thread runs nothing while its locks and connection stay, as a frozen or hung renderer's
//      do; headless Chromium does not freeze a visible page with Page.setWebLifecycleState), after
//      the Page Lifecycle 'freeze' event or without a word: another tab takes over, at once or
//      within 2 x heartbeat.timeout; nothing lost or repeated in any tab, either direction; and
//      when it runs again it follows (open, getting what came meanwhile and later, once).
import type { IncomingMessage, ServerResponse } from 'node:http';
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

/**
 * A plain SSE endpoint at /plain-feed, as many servers have one: every event keeps its id (1, 2,
 * ...), a request with Last-Event-ID starts after it; what is POSTed there is kept, a message a line.
 */
const feed = {
  events: [] as string[],
  live: new Set<ServerResponse>(),
  /** The most requests streaming at once, and the Last-Event-ID of each request. */
  most: 0,
  opened: [] as Array<string | undefined>,
  posted: [] as Array<{ pid?: string; tag?: string; i?: number }>,
  push(data: unknown): void {
    this.events.push(JSON.stringify(data));
    for (const res of this.live) res.write(`id: ${this.events.length}\ndata: ${this.events.at(-1)}\n\n`);
  },
  route(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (url.pathname === '/favicon.ico') return !!res.writeHead(204).end();
    if (url.pathname !== '/plain-feed') return false;
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += String(c)));
      req.on('end', () => {
        // Up to 3 messages a POST, a line each (plain mode's poster).
        for (const line of body.split('\n')) feed.posted.push(JSON.parse(line) as (typeof feed.posted)[number]);
        res.writeHead(204).end();
      });
      return true;
    }
    const last = req.headers['last-event-id'] as string | undefined;
    feed.opened.push(last);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.flushHeaders();
    for (let n = Number(last ?? 0); n < feed.events.length; n++) res.write(`id: ${n + 1}\ndata: ${feed.events[n]}\n\n`);
    feed.live.add(res);
    feed.most = Math.max(feed.most, feed.live.size);
    res.on('close', () => feed.live.delete(res));
    return true;
  },
};

beforeAll(async () => {
  fx = await startFixture({ static: { routes: (req, res, url) => feed.route(req, res, url) } });
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
async function openTab(
  context: BrowserContext,
  transport: string,
  share = true,
  { url: endpoint, opts }: { url?: string; opts?: object } = {},
): Promise<Tab> {
  const page = await context.newPage();
  const tab: Tab = { context, page, log: [], pid: newPid(), alive: true };
  page.on('console', (m) => tab.log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => tab.log.push(`pageerror: ${e.stack ?? e.message}`));
  const url = pageUrl(fx.http.url, {
    build: 'esm',
    transport,
    pid: tab.pid,
    url: endpoint,
    opts: { reconnect: { initialDelay: 50 }, ...opts },
  });
  await load(tab, url.replace('/rt-esm.html?', `/rt-share.html?share=${share ? 1 : 0}&`));
  return tab;
}

async function openTabs(
  context: BrowserContext,
  transport: string,
  n: number,
  options?: Parameters<typeof openTab>[3],
): Promise<Tab[]> {
  const tabs: Tab[] = [];
  for (let i = 0; i < n; i++) tabs.push(await openTab(context, transport, true, options));
  for (const t of tabs) await waitOpen(t);
  return tabs;
}

/** What rt-share.js adds to the page's T. */
interface ShareApi {
  leading(): boolean;
}

const pushes = (t: Tab) => t.page.evaluate(() => window.T.pushes('s'));

/**
 * The live tab holding the connection: exactly one must say so. Each tab judges from the 'ready'
 * and 'join' messages it has read, so just after a holder change a tab may not have read the
 * latest yet: the tabs are asked again until they agree on one (CI once saw none at the first ask).
 */
async function holder(tabs: Tab[]): Promise<Tab> {
  let leaders: Tab[] = [];
  const agreed = async () => {
    leaders = [];
    for (const x of tabs.filter((y) => y.alive))
      if (await x.page.evaluate(() => (window.T as unknown as ShareApi).leading())) leaders.push(x);
    return leaders.length === 1;
  };
  await waitFor(agreed, { what: 'one tab holding the connection', timeout: 5000 }).catch(() => {});
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

/** Every one of `tabs` is open again and has more than `mark` pushes: it receives after a holder went. */
async function receivingAfter(tabs: Tab[], mark: number, what: string): Promise<void> {
  for (const x of tabs)
    await waitUntil(x, (n) => window.T.client!.state === 'open' && window.T.pushes('s').length > n, mark, what);
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
        const leader = await holder(tabs);
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
        await receivingAfter(
          tabs.filter((x) => x.alive),
          pushed,
          'open again, receiving what the server sent after the death',
        );
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
    it(`7. ${how === 'frozen' ? "frozen after the 'freeze' event: another tab takes over at once" : 'hung without a word: another tab takes over within 2 x heartbeat.timeout'}; nothing lost or repeated in any tab, either direction; woken, it follows`, async (t) => {
      const context = await browser.newContext();
      t.onTestFinished(() => context.close());
      const tabs: Tab[] = [];
      for (let i = 0; i < 3; i++)
        tabs.push(await openTab(context, 'websocket', true, { opts: { heartbeat: { timeout: TIMEOUT } } }));
      for (const x of tabs) await waitOpen(x);
      let pushed = 0;
      const loop = setInterval(() => sessions[0]!.send({ push: 's', i: pushed++ }), 20);
      t.onTestFinished(() => clearInterval(loop));
      for (const tab of tabs) await tab.page.evaluate(() => window.T.sendLoop('m', 25));
      const still = await holder(tabs);
      const before = pushed;
      await waitFor(() => pushed > before + 10, { what: 'more pushes' });
      const cdp = await context.newCDPSession(still.page);
      await cdp.send('Debugger.enable');
      const stoodStill = Date.now();
      if (how === 'frozen') await still.page.evaluate(() => document.dispatchEvent(new Event('freeze')));
      const paused = new Promise((resolve) => cdp.once('Debugger.paused', resolve));
      await cdp.send('Debugger.pause');
      await paused; // at its next statement: its send loop's timer
      const rest = tabs.filter((x) => x !== still);
      await receivingAfter(rest, pushed, 'open again, receiving what the server sent after the holder stood still');
      const next = await holder(rest);
      const tookOver =
        (await next.page.evaluate(() => (window.T as unknown as { readyAt: number }).readyAt)) - stoodStill;
      const bound = how === 'frozen' ? 0 : 2 * TIMEOUT;
      expect(tookOver, 'ms from standing still to the next holder ready').toBeLessThan(bound + 1500);
      await cdp.send('Debugger.resume');
      if (how === 'frozen') await still.page.evaluate(() => document.dispatchEvent(new Event('resume')));
      await receivingAfter([still], pushed, 'following: open, receiving what the server sent after it woke');
      expect(await holder(tabs)).toBe(next);
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

describe('share: plain mode and queue.persist', () => {
  it('5. plain SSE endpoint (fetch-stream), 3 tabs, the holder closed mid-stream: one connection at a time; every event once, in order, in every tab; each send() once', async (t) => {
    const context = await browser.newContext();
    t.onTestFinished(() => context.close());
    feed.events = [];
    feed.opened = [];
    feed.posted = [];
    feed.most = 0;
    const opts = { protocol: 'plain' };
    const tabs = await openTabs(context, 'fetch-stream', 3, { url: '/plain-feed', opts });
    expect(feed.opened, 'one request to the endpoint').toEqual([undefined]);
    let pushed = 0;
    const loop = setInterval(() => feed.push({ push: 's', i: pushed++ }), 10);
    t.onTestFinished(() => clearInterval(loop));
    for (const tab of tabs) await tab.page.evaluate(() => window.T.send('m', 5));
    await waitFor(() => pushed > 20, { what: 'pushes under way' });
    const leader = await holder(tabs);
    expect(feed.most, 'requests streaming at once, 3 tabs').toBe(1);
    leader.alive = false;
    await leader.page.close();
    const rest = tabs.filter((x) => x.alive);
    await receivingAfter(rest, pushed, 'open again, receiving what the endpoint sent after the holder went');
    clearInterval(loop);
    for (const x of rest) await x.page.evaluate(() => window.T.send('m', 5));
    for (const x of rest)
      await waitUntil(
        x,
        (n) => window.T.pushes('s').length >= n && window.T.settled('m').resolved === 10,
        pushed,
        'every event arrived and every send() resolved',
      );
    for (const x of rest) {
      expect(await pushes(x), `events in ${x.pid}`).toEqual(range(pushed));
      const got = feed.posted.filter((m) => m.pid === x.pid && m.tag === 'm').map((m) => m.i);
      expect(got, `the endpoint got ${x.pid}'s messages once, in order`).toEqual(range(10));
      await expectClean(x);
    }
    const gone = feed.posted.filter((m) => m.pid === leader.pid && m.tag === 'm').map((m) => m.i);
    expect(gone, "the closed holder's messages once, in order").toEqual(range(5));
    // One request per holder (the closed one's may end on the server a little after the next begins).
    expect(feed.opened.length, 'requests to the endpoint').toBe(2);
    expect(Number(feed.opened[1]), 'the next holder resumed from the last event id it had').toBeGreaterThan(0);
    expect(feed.live.size, 'requests streaming at the end').toBe(1);
  });

  it('6. queue.persist: 3 tabs send offline, the holder is closed, back online: each message reaches the server once', async (t) => {
    const context = await browser.newContext();
    t.onTestFinished(() => context.close());
    const tabs = await openTabs(context, 'sse', 3, { opts: { queue: { persist: 'localStorage' } } });
    expect(links, 'connections').toBe(1);
    await context.setOffline(true);
    const leader = await holder(tabs);
    // Its stream may stay up (Chromium's offline emulation), but what it POSTs fails: then the
    // tabs' messages wait in each tab, the holder's in its persisted queue alone.
    await leader.page.evaluate(() => window.T.send('w', 1));
    for (const x of tabs)
      await waitUntil(x, () => window.T.client!.state === 'reconnecting', undefined, 'offline: reconnecting');
    for (const x of tabs) await x.page.evaluate(() => window.T.send('m', 5));
    leader.alive = false;
    await leader.page.close();
    const rest = tabs.filter((x) => x.alive);
    await context.setOffline(false);
    for (const x of rest)
      await waitUntil(x, () => window.T.settled('m').resolved === 5, undefined, 'every send() resolved');
    await waitFor(() => fx.got(leader.pid, 'm').length >= 5, { what: "the closed holder's messages" });
    for (const x of tabs) expect(fx.got(x.pid, 'm'), `server got ${x.pid}'s messages once, in order`).toEqual(range(5));
    expect(fx.got(leader.pid, 'w'), 'the message the holder was sending as the network went').toEqual([0]);
    for (const x of rest) await expectClean(x);
    expect(sessions.length, 'one session throughout').toBe(1);
  });
});
