// queue.persist in Chromium, with each storage, on each transport: what a page queued survives a
// reload and the next load of the page delivers it exactly once.
//  a. Offline: the server process is killed, the page sends more (they wait in the queue), the
//     page is reloaded while the server is still down, then the server comes back (same port,
//     same session store): the reloaded page resumes the session and sends what the old page
//     queued, each message once, in order.
//  b. In flight: the page sends a burst and is reloaded in the same task, so usually part of it
//     was handed to the transport but not acknowledged; the next page resumes, resends what the
//     server had not acknowledged, with the same sequence numbers, and the server applies each
//     once. (When every message was acknowledged before the page went, nothing is left to resume
//     and the next page starts a new session: the test checks that this is what happened.)
// Exactly once is read from the server's own deliveries (its 'recv' log lines, one per
// 'message' event), not from the test app's idempotent log, which would hide a duplicate.
import { describe, expect, it } from 'vitest';
import {
  expectClean,
  load,
  newPage,
  newPid,
  pageSummary,
  pageUrl,
  range,
  TRANSPORTS,
  waitOpen,
  waitUntil,
} from './harness';
import { processSuite, type LogLine, type ServerProcess } from './processes';
import { waitFor } from '../wait';

const suite = processSuite('rt-persist-store-');
const { servers } = suite;

/** The `i`s of page `pid`'s messages as delivered by every server process, in order. */
const delivered = (pid: string, procs: ServerProcess[]) =>
  procs.flatMap((p) => p.lines.filter((l) => l.ev === 'recv' && l.pid === pid && l.tag === 'm').map((l) => l.i));
const again = (procs: ServerProcess[]) =>
  procs.flatMap((p) => p.lines.filter((l) => l.ev === 'again' || l.ev === 'error'));

describe.each(['indexeddb', 'localStorage'] as const)('queue.persist: %s', (persist) => {
  describe.each(TRANSPORTS)('transport %s', (transport) => {
    const open = async (pid: string) => {
      const p = (suite.opened = await newPage(suite.browser));
      const opts = { queue: { persist }, reconnect: { initialDelay: 100, maxDelay: 500 } };
      await load(
        p,
        pageUrl(suite.statics.url, { transport, pid, opts, url: `http://127.0.0.1:${suite.port}/realtime` }),
      );
      return p;
    };

    it('a. sent while the server is down, then reloaded before it is back: the next page delivers each message once', async () => {
      const pid = newPid();
      const p = await open(pid);
      await waitOpen(p);
      await p.page.evaluate(() => window.T.send('m', 5));
      await waitUntil(p, () => window.T.settled('m').resolved === 5, undefined, 'the first 5 acknowledged');
      const old = suite.current!;
      await servers.kill(old);
      await waitUntil(
        p,
        () => window.T.client!.state === 'reconnecting',
        undefined,
        'the page noticed the server is gone',
      );
      await p.page.evaluate(() => window.T.send('m', 5));

      await p.page.reload();
      await waitUntil(
        p,
        () => window.T?.client?.state === 'reconnecting',
        undefined,
        'the reloaded page is trying to connect',
      );
      expect(await p.page.evaluate(() => window.T.sends.length), 'the new page sent nothing itself').toBe(0);
      const server = (suite.current = await servers.start(suite.port));
      await waitOpen(p);
      await waitUntil(p, () => window.T.client!.state === 'open', undefined, 'open again');
      await waitUntil(
        p,
        () => window.T.received.filter((d) => (d as { echo?: unknown }).echo).length >= 5,
        undefined,
        'the 5 queued messages echoed',
      );

      const why = await pageSummary(p);
      expect(
        await p.page.evaluate(() => window.T.opens.map((o) => o.resumed)),
        `the reloaded page resumed the session\n${why}`,
      ).toEqual([true]);
      expect(delivered(pid, [old, server]), why).toEqual(range(10));
      expect(again([old, server])).toEqual([]);
      expect(
        (await p.page.evaluate(() => window.T.rtErrors)).filter((e) => e.code !== 'connect-failed'),
        why,
      ).toEqual([]);
      await expectClean(p);
    });

    it('b. a burst reloaded away in the task that sent it: the next page resends what was not acknowledged, and each arrives once', async () => {
      const pid = newPid();
      const p = await open(pid);
      await waitOpen(p);
      const server = suite.current!;
      const n = 200;
      // send() hands the burst to the transport in a microtask; the reload's pagehide comes
      // before any acknowledgement can.
      await p.page.evaluate((n) => {
        window.T.send('m', n);
        queueMicrotask(() => location.reload());
      }, n);
      await waitUntil(p, () => window.T?.client?.state === 'open', undefined, 'the reloaded page is open');
      await waitFor(() => delivered(pid, [server]).length >= n, { what: `${n} messages delivered` }).catch(() => {});

      const why = await pageSummary(p);
      expect(delivered(pid, [server]), why).toEqual(range(n));
      expect(again([server])).toEqual([]);
      expect(await p.page.evaluate(() => window.T.rtErrors), why).toEqual([]);
      const [reopened] = await p.page.evaluate(() => window.T.opens);
      if (!reopened!.resumed) {
        // Only right if the old page had every message acknowledged before it went (so it left
        // nothing to resume): the new session began after the server had all of them.
        const last = (ok: (l: LogLine) => boolean) => server.lines.reduce((at, l, i) => (ok(l) ? i : at), -1);
        const newSession = last((l) => l.ev === 'session');
        const lastDelivered = last((l) => l.ev === 'recv' && l.pid === pid);
        expect(lastDelivered, `a new session, yet messages were still arriving\n${why}`).toBeLessThan(newSession);
      }
      console.info(
        `[persist ${persist} ${transport}] burst of ${n} reloaded away: ${reopened!.resumed ? 'unacknowledged messages were saved, and the next page resumed their session' : 'all acknowledged before the page went'}`,
      );
      await expectClean(p);
    });
  });
});
