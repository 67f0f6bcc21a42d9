// 6. The server process is killed (SIGKILL) mid-stream and restarted on the same port, per
// transport. The reference server keeps sessions in memory, so the restarted process does not
// know the page's session: the client must get a new session, report 'session-lost' and reject
// the messages it had sent but never had acknowledged, and lose or repeat nothing else:
//  - every send() settles: resolved, or rejected with 'session-lost' (the app is told);
//  - a resolved message was logged exactly once, by the old or the new process;
//  - no message is logged twice (nothing rejected is sent again);
//  - every message sent after the reconnect arrives exactly once, in order, and is echoed;
//  - pushes from each process arrive in order, without gaps or repeats.
// The server runs in a child process (server-process.mjs, on the built dist/server.js) that logs
// every message it receives to stdout; the page comes from a separate static server, so its
// realtime URL is cross-origin (CORS for the HTTP transports), allowed by the page's CSP.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './chromium';
import { expectClean, load, newPage, pageSummary, pageUrl, range, requireBuild, root, TRANSPORTS, waitOpen, waitUntil, type OpenedPage } from './harness';
import { serveStatic, type StaticServer } from './static-server';

const script = fileURLToPath(new URL('./server-process.mjs', import.meta.url));

interface LogLine {
  ev: string;
  port?: number;
  sid?: string;
  pid?: string;
  tag?: string;
  i?: number;
  error?: string;
}

/** One server process and what it printed. */
interface ServerProcess {
  child: ChildProcess;
  label: string;
  lines: LogLine[];
  stderr: string[];
  port: number;
  exited: Promise<void>;
}

const live = new Set<ServerProcess>();
let started = 0;

/** Starts server-process.mjs on `port` (0: any); its pushes carry a label unique to it. */
async function startServerProcess(port: number): Promise<ServerProcess> {
  const label = `process-${++started}`;
  const child = spawn(process.execPath, [script, String(port), label], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc: ServerProcess = {
    child,
    label,
    lines: [],
    stderr: [],
    port: 0,
    exited: new Promise((resolve) => child.once('exit', () => resolve())),
  };
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  createInterface({ input: child.stderr! }).on('line', (l) => proc.stderr.push(l));
  const listening = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      let line: LogLine;
      try {
        line = JSON.parse(l) as LogLine;
      } catch {
        line = { ev: 'text', error: l };
      }
      proc.lines.push(line);
      if (line.ev === 'listening') resolve(line.port!);
    });
    child.once('exit', (code, signal) => reject(new Error(`server process ${label} exited (${signal ?? code}) before listening: ${proc.stderr.join('\n')}`)));
    child.once('error', reject);
  });
  proc.port = await listening;
  return proc;
}

async function kill(proc: ServerProcess): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  await proc.exited;
}

let browser: Browser;
let statics: StaticServer;
/** The port every server process of this file listens on: the first one's, from port 0. */
let port: number;
let first: ServerProcess | undefined;
let opened: OpenedPage | undefined;

beforeAll(async () => {
  requireBuild();
  first = await startServerProcess(0);
  port = first.port;
  const realtime = `127.0.0.1:${port}`;
  statics = await serveStatic({
    root,
    // As strict as the default, with the realtime server's origin (http for the HTTP transports, ws).
    csp: [
      "default-src 'none'",
      "script-src 'self'",
      `connect-src 'self' http://${realtime} ws://${realtime}`,
      "style-src 'self'",
      "img-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    routes: (_req, res, url) => {
      if (url.pathname !== '/favicon.ico') return false;
      res.writeHead(204).end();
      return true;
    },
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await statics?.close();
  await Promise.all([...live].map(kill));
});

afterEach(async () => {
  await opened?.context.close();
  opened = undefined;
});

describe.each(TRANSPORTS)('transport %s', (transport) => {
  it('6. server killed (SIGKILL) and restarted mid-stream: new session, session-lost reported, nothing duplicated', async () => {
    // The previous test's (or beforeAll's) process on `port`, or a new one.
    const old = first ?? (await startServerProcess(port));
    first = undefined;
    const p = (opened = await newPage(browser));
    const pid = `p${randomUUID().slice(0, 8)}`;
    // A quicker backoff than the default, so the test does not wait out long delays.
    const opts = { reconnect: { initialDelay: 200, maxDelay: 1000 } };
    await load(p, pageUrl(statics.url, { transport, pid, opts, url: `http://127.0.0.1:${port}/realtime` }));
    await waitOpen(p);
    expect(await p.page.evaluate(() => window.T.client!.transport)).toBe(transport);

    // Mid-stream: the page sends every 15 ms while the server pushes every 20 ms.
    await p.page.evaluate(() => window.T.sendLoop('m', 15));
    await waitUntil(p, () => window.T.settled('m').resolved >= 30 && window.T.pushes('live').length >= 30, undefined, '30 messages each way before the kill');
    await kill(old);
    const next = await startServerProcess(port);
    try {
      // The client reconnects to the new process: a second, new session.
      await waitOpen(p, 2, 30_000);
      const reopened = await p.page.evaluate(() => window.T.opens[1]!);
      expect(reopened.resumed, 'the new process cannot know the old session').toBe(false);
      await waitUntil(
        p,
        ([from, proc]) => window.T.sends.length >= from + 30 && window.T.received.filter((d) => (d as { proc?: string })?.proc === proc).length >= 20,
        [reopened.sends, next.label] as const,
        '30 more messages sent and 20 pushes from the new process after the reconnect',
      );
      await p.page.evaluate(() => window.T.stopLoop());
      await waitUntil(p, () => window.T.settled('m').pending === 0, undefined, 'every send() settled');

      const page = await p.page.evaluate(() => ({
        sends: window.T.sends.filter((s) => s.tag === 'm').map((s) => ({ i: s.i, status: s.status, code: s.code })),
        echoes: window.T.echoes('m'),
        pushes: window.T.received.filter((d) => (d as { push?: string })?.push === 'live').map((d) => d as { i: number; proc: string }),
        rtErrors: window.T.rtErrors,
        opens: window.T.opens,
        states: window.T.states,
      }));
      const logged = (proc: typeof old) => proc.lines.filter((l) => l.ev === 'recv' && l.pid === pid && l.tag === 'm').map((l) => l.i!);
      const byOld = logged(old);
      const byNew = logged(next);
      const why = `sends: ${JSON.stringify(page.sends.filter((s) => s.status !== 'resolved'))}\nold logged ${JSON.stringify(byOld)}\nnew logged ${JSON.stringify(byNew)}\n${await pageSummary(p)}`;

      // The app is told: one 'session-lost' error.
      expect(page.rtErrors.filter((e) => e.code === 'session-lost').length, why).toBe(1);
      expect(page.rtErrors.filter((e) => e.code !== 'session-lost'), why).toEqual([]);
      expect(page.opens.map((o) => o.resumed)).toEqual([false, false]);

      // Every send() settled as resolved or 'session-lost'.
      for (const s of page.sends) {
        expect(s.status === 'resolved' || (s.status === 'rejected' && s.code === 'session-lost'), `message ${s.i}: ${s.status} ${s.code}\n${why}`).toBe(true);
      }
      // No message logged twice, across both processes.
      const all = [...byOld, ...byNew];
      expect(all.length - new Set(all).size, `messages logged twice\n${why}`).toBe(0);
      // Each process got its messages in order.
      expect(byOld, why).toEqual([...byOld].sort((a, b) => a - b));
      expect(byNew, why).toEqual([...byNew].sort((a, b) => a - b));
      // A resolved message was logged exactly once; a rejected one was never sent again.
      const loggedOnce = new Set(all);
      const resolved = page.sends.filter((s) => s.status === 'resolved').map((s) => s.i);
      const rejected = page.sends.filter((s) => s.status === 'rejected').map((s) => s.i);
      expect(resolved.filter((i) => !loggedOnce.has(i)), `resolved but never logged\n${why}`).toEqual([]);
      expect(rejected.filter((i) => byNew.includes(i)), `rejected but delivered again to the new process\n${why}`).toEqual([]);
      // Everything sent after the reconnect (and whatever was still queued) went to the new process.
      const after = page.sends.filter((s) => s.i >= reopened.sends);
      expect(after.every((s) => s.status === 'resolved'), why).toBe(true);
      expect(byNew.filter((i) => i >= reopened.sends), why).toEqual(range(page.sends.length - reopened.sends, reopened.sends));
      // Echoes: once each; every message the new process logged was echoed.
      expect(page.echoes.length - new Set(page.echoes).size, 'echoes repeated').toBe(0);
      expect(byNew.filter((i) => !page.echoes.includes(i)), 'logged by the new process but not echoed').toEqual([]);
      // Pushes of each process arrive in order with no gap or repeat (those the old process sent
      // but the page never acknowledged are gone with its session: that is what 'session-lost' says).
      for (const proc of ['old', 'new'] as const) {
        const label = proc === 'old' ? old.label : next.label;
        const is = page.pushes.filter((d) => d.proc === label).map((d) => d.i);
        expect(is, `pushes from the ${proc} process`).toEqual(range(is.length));
      }
      console.info(
        `[${transport}] kill/restart: ${resolved.length} resolved, ${rejected.length} rejected with session-lost ` +
          `(${rejected.filter((i) => byOld.includes(i)).length} of them had reached the old process); ` +
          `old logged ${byOld.length}, new logged ${byNew.length}; states ${page.states.join(' ')}`,
      );
      expect([...old.lines, ...next.lines].filter((l) => l.ev === 'error')).toEqual([]);
      await expectClean(p);
    } finally {
      // Left running on `port` for the next transport's test.
      first = next;
    }
  });
});
