// Tab sharing in `npm run bench` (issue 16): 10 tabs of one browser context (one origin) on the
// same URL over WebSocket, with `share: tabSharing()` and without, against a server process of
// its own (started with --expose-gc, so its heap is read after a full GC):
//   - what the server holds for them: TCP connections, sessions, and JS heap over the idle server's;
//   - with share, while the server streams a message every TICK_MS ms, the longest silence in
//     each other tab around the holding tab's death: page.close() (a closed tab: the browser
//     frees its lock at once) and a renderer crash through CDP (Page.crash).
// Tabs of one context need Playwright (the bare CDP driver of the other parts opens a context per
// page); the figures here are times of a few hundred ms, which its per-frame cost does not move.
import { importBundled, root, ServerProcess, sleep } from './harness.mjs';
import { median, table } from './report.mjs';

const TABS = 10;
const TICK_MS = 10;

async function openTabs(browser, server, share) {
  const context = await browser.newContext();
  const pages = [];
  for (let i = 0; i < TABS; i++) {
    const page = await context.newPage();
    await page.goto(`${server.url}/bench/pages/ours-share.html?transport=websocket&share=${share ? 1 : 0}`);
    await page.evaluate(() => window.H.start());
    pages.push(page);
  }
  for (const page of pages) await page.waitForFunction(() => window.H.opens() >= 1, undefined, { timeout: 20_000 });
  return { context, pages };
}

/** What the server holds for 10 idle tabs, shared or not, over what it held before they opened. */
async function held(browser, server, share) {
  const idle = await server.command('stats');
  const { context, pages } = await openTabs(browser, server, share);
  try {
    const s = await server.command('stats');
    return {
      sockets: s.sockets - idle.sockets,
      sessions: s.sessions - idle.sessions,
      heapKiB: (s.heapUsed - idle.heapUsed) / 1024,
      tabs: pages.length,
    };
  } finally {
    // Closed clients end their sessions (a closed context would leave them awaiting a resume for
    // the server's sessionTtl, in the next measure's heap): the holding tab last, as it hands over.
    const leading = await Promise.all(pages.map((p) => p.evaluate(() => window.H.leading())));
    for (const [i, page] of pages.entries()) if (!leading[i]) await page.evaluate(() => window.H.client.close());
    for (const [i, page] of pages.entries()) if (leading[i]) await page.evaluate(() => window.H.client.close());
    for (let t = Date.now(); (await server.command('stats')).sessions > idle.sessions && Date.now() - t < 10_000;)
      await sleep(20);
    await context.close();
  }
}

/**
 * For each death of the holding tab and each other tab: the longest silence in that tab around
 * the death (between two consecutive messages, the server sending one every TICK_MS ms).
 */
async function failover(browser, server, how, rounds) {
  const { context, pages } = await openTabs(browser, server, true);
  const times = [];
  try {
    let live = pages;
    await live[0].evaluate((ms) => window.H.send({ ctl: 'tick', ms, n: 1_000_000 }), TICK_MS);
    for (let r = 0; r < rounds; r++) {
      let leader;
      for (const page of live) if (await page.evaluate(() => window.H.leading())) leader = page;
      if (!leader) throw new Error('no tab holds the connection');
      live = live.filter((p) => p !== leader);
      const mark = await live[0].evaluate(() => window.H.ticks.length);
      await live[0].waitForFunction((n) => window.H.ticks.length > n + 20, mark); // mid-stream
      const before = Date.now();
      if (how === 'closed') await leader.close();
      else {
        const crashed = new Promise((resolve) => leader.once('crash', resolve));
        const cdp = await context.newCDPSession(leader);
        void cdp.send('Page.crash').catch(() => {});
        await crashed;
      }
      const died = Date.now();
      for (const page of live) {
        // Until the stream has run on a while after the death: then the silence is over.
        await page.waitForFunction((t) => window.H.ticks.some(([, at]) => at > t + 500), died, { timeout: 20_000 });
        times.push(
          await page.evaluate((t0) => {
            const at = window.H.ticks.filter(([, a]) => a >= t0).map(([, a]) => a);
            let gap = 0;
            for (let i = 1; i < at.length; i++) gap = Math.max(gap, at[i] - at[i - 1]);
            return gap;
          }, before - 200),
        );
      }
    }
  } finally {
    await context.close();
  }
  return { n: times.length, median: median(times), max: Math.max(...times) };
}

export async function shareBench({ log, quick }) {
  const { launchBrowser } = await importBundled('chromium.mjs', { entryPoints: [`${root}/test/browser/chromium.ts`] });
  const browser = await launchBrowser();
  const server = new ServerProcess(['--expose-gc']);
  await server.start();
  try {
    const out = { tabs: TABS, tickMs: TICK_MS };
    await held(browser, server, false); // unmeasured: the server's first sessions pay for its JIT and heap growth
    out.shared = await held(browser, server, true);
    out.own = await held(browser, server, false);
    for (const [k, r] of [
      ['share', out.shared],
      ['no share', out.own],
    ])
      log(
        `   ${TABS} tabs, ${k.padEnd(8)}: ${r.sockets} connections, ${r.sessions} sessions, server heap +${Math.round(r.heapKiB)} KiB`,
      );
    const rounds = quick ? 1 : 3;
    for (const how of ['closed', 'crashed']) {
      out[how] = await failover(browser, server, how, rounds);
      log(
        `   holder ${how}: longest silence in the other tabs ${Math.round(out[how].median)} ms median, ${Math.round(out[how].max)} ms max (${out[how].n})`,
      );
    }
    return out;
  } finally {
    await server.kill();
    await browser.close();
  }
}

const ms = (x) => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');

export function shareMarkdown(r) {
  return [
    table(
      [
        `${r.tabs} tabs of one origin, WebSocket`,
        'TCP connections to the server',
        'sessions',
        'server heap (after GC, over idle)',
      ],
      [
        ['`share: tabSharing()`', r.shared.sockets, r.shared.sessions, `${Math.round(r.shared.heapKiB)} KiB`],
        ['a connection per tab', r.own.sockets, r.own.sessions, `${Math.round(r.own.heapKiB)} KiB`],
      ],
    ),
    '',
    `TCP connections: sockets open to the server process while the tabs are open, over those before, page loads' keep-alive ones included (a session here is one WebSocket).`,
    '',
    table(
      ['the holding tab', 'longest silence in each other tab (median)', 'max', 'deaths × tabs'],
      [
        ['closed (`page.close()`)', ms(r.closed?.median), ms(r.closed?.max), r.closed?.n ?? 'n/a'],
        ['crashed (renderer, CDP `Page.crash`)', ms(r.crashed?.median), ms(r.crashed?.max), r.crashed?.n ?? 'n/a'],
      ],
    ),
    '',
    `The server sends a message every ${r.tickMs} ms; the silence is the longest time between two messages in a tab around the holder's death: the lock freed, the successor reading the channel and resuming the session, the tab relinking to it.`,
  ].join('\n');
}
