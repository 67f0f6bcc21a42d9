// 6. The server process is killed (SIGKILL) mid-stream and restarted on the same port, per
// transport. The server keeps its sessions in fileSessionStore(dir), the same directory across
// the kill and the restart, so the restarted process restores the page's session and the
// client resumes it as if only the connection had dropped:
//  - the client's second open event says resumed: true; no 'session-lost', no other error;
//  - every send() resolves, and every message the page sent is applied exactly once, in order,
//    by the old or the new process. The app is idempotent as docs/protocol.md §5 asks: its
//    effect is a line in its own log (storeDir/app-<sid>.log) with the message's seq, and it
//    skips a seq it already applied. The server delivers, then saves, then acks, so a kill
//    before the save makes the client resend and the new process deliver again with the same
//    seq: the app skips it, and nothing is lost or applied twice.
//  - every push arrives exactly once and in order: the old process's (those it had sent, replayed
//    by the new process when not yet acknowledged), then the new process's;
//  - echoes arrive at most once; only the echoes of the last messages the old process applied
//    before the kill may be missing (killed between applying them and saving the echo).
// The server runs in a child process (server-process.mjs, on the built dist/server.js) that logs
// every message it receives to stdout; the page comes from a separate static server, so its
// realtime URL is cross-origin (CORS for the HTTP transports), allowed by the page's CSP.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { expectClean, load, newPage, pageSummary, pageUrl, range, TRANSPORTS, waitOpen, waitUntil } from './harness';
import { processSuite } from './processes';

const suite = processSuite('rt-restart-store-');
const { appLog, kill } = suite.servers;

describe.each(TRANSPORTS)('transport %s', (transport) => {
  it('6. server killed (SIGKILL) and restarted mid-stream with a session store: the same session resumes, nothing lost or repeated', async () => {
    // The previous test's (or beforeAll's) process on `port`, or a new one.
    const old = suite.current ?? (await suite.servers.start(suite.port));
    suite.current = undefined;
    const p = (suite.opened = await newPage(suite.browser));
    const pid = `p${randomUUID().slice(0, 8)}`;
    // A quicker backoff than the default, so the test does not wait out long delays.
    const opts = { reconnect: { initialDelay: 200, maxDelay: 1000 } };
    await load(p, pageUrl(suite.statics.url, { transport, pid, opts, url: `http://127.0.0.1:${suite.port}/realtime` }));
    await waitOpen(p);
    expect(await p.page.evaluate(() => window.T.client!.transport)).toBe(transport);

    // Mid-stream: the page sends every 15 ms while the server pushes every 20 ms.
    await p.page.evaluate(() => window.T.sendLoop('m', 15));
    await waitUntil(
      p,
      () => window.T.settled('m').resolved >= 30 && window.T.pushes('live').length >= 30,
      undefined,
      '30 messages each way before the kill',
    );
    await kill(old);
    const next = await suite.servers.start(suite.port);
    try {
      // The client reconnects to the new process and resumes its session.
      await waitOpen(p, 2, 30_000);
      const reopened = await p.page.evaluate(() => window.T.opens[1]!);
      expect(reopened.resumed, 'the new process restored the session from the store').toBe(true);
      await waitUntil(
        p,
        ([from, proc]) =>
          window.T.sends.length >= from + 30 &&
          window.T.received.filter((d) => (d as { proc?: string })?.proc === proc).length >= 20,
        [reopened.sends, next.label] as const,
        '30 more messages sent and 20 pushes from the new process after the reconnect',
      );
      await p.page.evaluate(() => window.T.stopLoop());
      await waitUntil(p, () => window.T.settled('m').pending === 0, undefined, 'every send() settled');
      // The echo of the last message (handled by the new process) has arrived: so have all before it.
      await waitUntil(
        p,
        () => window.T.echoes('m').includes(window.T.sends.filter((s) => s.tag === 'm').length - 1),
        undefined,
        'the last echo',
      );

      const page = await p.page.evaluate(() => ({
        sends: window.T.sends.filter((s) => s.tag === 'm').map((s) => ({ i: s.i, status: s.status, code: s.code })),
        echoes: window.T.echoes('m'),
        pushes: window.T.received
          .filter((d) => (d as { push?: string })?.push === 'live')
          .map((d) => d as { i: number; proc: string }),
        rtErrors: window.T.rtErrors,
        opens: window.T.opens,
        states: window.T.states,
      }));
      const logged = (proc: typeof old) => proc.lines.filter((l) => l.ev === 'recv' && l.pid === pid && l.tag === 'm');
      // The app's own log is the record of its effects (stdout may miss the line at the kill).
      const applied = appLog(pid);
      const byOld = applied.filter((l) => l.proc === old.label).map((l) => l.i);
      const byNew = applied.filter((l) => l.proc === next.label).map((l) => l.i);
      const why = `sends: ${JSON.stringify(page.sends.filter((s) => s.status !== 'resolved'))}\nold logged ${JSON.stringify(byOld)}\nnew logged ${JSON.stringify(byNew)}\nold tail ${JSON.stringify(old.lines.slice(-6))}\nnew head ${JSON.stringify(next.lines.slice(0, 6))}\n${await pageSummary(p)}`;

      // One session across both processes: restored (not a new session) by the new process.
      const sids = new Set([...logged(old), ...logged(next)].map((l) => l.sid));
      expect(sids.size, why).toBe(1);
      const [sid] = sids;
      expect(
        next.lines.some((l) => l.ev === 'restore' && l.sid === sid),
        why,
      ).toBe(true);
      expect(
        next.lines.filter((l) => l.ev === 'session'),
        'no new session on the new process',
      ).toEqual([]);

      // No 'session-lost', no other error (attempts while the server was down report 'connect-failed');
      // the second open resumed.
      expect(
        page.rtErrors.filter((e) => e.code !== 'connect-failed'),
        why,
      ).toEqual([]);
      expect(page.opens.map((o) => o.resumed)).toEqual([false, true]);

      // Every send() resolved; every message applied exactly once, in order, across both processes.
      expect(
        page.sends.filter((s) => s.status !== 'resolved'),
        why,
      ).toEqual([]);
      expect(byNew.length, why).toBeGreaterThan(0);
      expect([...byOld, ...byNew], why).toEqual(range(page.sends.length));
      expect(
        applied.map((l) => l.seq),
        'seqs applied in order, each once',
      ).toEqual([...new Set(applied.map((l) => l.seq))].sort((a, b) => a - b));

      // Echoes: at most once, in order; only the echoes of the last messages the old process
      // handled may be missing (killed after delivering them, before saving the echo).
      expect(page.echoes, why).toEqual([...new Set(page.echoes)].sort((a, b) => a - b));
      const missing = range(page.sends.length).filter((i) => !page.echoes.includes(i));
      expect(missing, `echoes missing\n${why}`).toEqual(byOld.slice(byOld.length - missing.length));
      expect(missing.length, `echoes missing\n${why}`).toBeLessThanOrEqual(3);

      // Pushes: each exactly once and in order, the old process's first (the unacknowledged ones
      // replayed by the new process), then the new process's. Of what the old process logged as
      // sent, only the last may be missing (killed between send() and the save before writing).
      const labels = page.pushes.map((d) => d.proc);
      expect(labels, 'old pushes, then new pushes').toEqual(
        [...labels].sort((a, b) => (a === b ? 0 : a === old.label ? -1 : 1)),
      );
      const oldPushes = page.pushes.filter((d) => d.proc === old.label).map((d) => d.i);
      const newPushes = page.pushes.filter((d) => d.proc === next.label).map((d) => d.i);
      expect(oldPushes, 'pushes from the old process').toEqual(range(oldPushes.length));
      expect(newPushes, 'pushes from the new process').toEqual(range(newPushes.length));
      const oldLoggedPushes = old.lines.filter((l) => l.ev === 'push' && l.sid === sid).length;
      expect(oldPushes.length, 'pushes the old process sent').toBeGreaterThanOrEqual(oldLoggedPushes - 1);
      expect(oldPushes.length).toBeLessThanOrEqual(oldLoggedPushes);

      console.info(
        `[${transport}] kill/restart with a session store: ${page.sends.length} resolved; ` +
          `old logged ${byOld.length}, new logged ${byNew.length}; pushes ${oldPushes.length} old + ${newPushes.length} new; ` +
          `${next.lines.filter((l) => l.ev === 'again').length} delivered again and skipped, ${missing.length} echo(es) lost at the kill; states ${page.states.join(' ')}`,
      );
      expect([...old.lines, ...next.lines].filter((l) => l.ev === 'error')).toEqual([]);
      await expectClean(p);
    } finally {
      // Left running on `port` for the next transport's test.
      suite.current = next;
    }
  });
});
