// @vitest-environment node
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { RealtimeClient, type TransportName } from '../../src/index';
import type { Session } from '../../src/server/index';
import { faultProxy, type FaultProxy } from './fault-proxy';
import { nodeEnv, seeded, startServer } from './harness';
import { waitFor } from '../wait';

/**
 * Chaos: for each transport, client → fault proxy → reference server, 5,000 messages each way at a
 * steady rate while network faults strike at moments drawn from a seeded PRNG. Afterwards nothing
 * may be lost, duplicated or reordered either way, and every send() must have resolved.
 *
 * The seed is printed; `SEED=<n> npx vitest run test/integration/chaos.test.ts -t <transport>`
 * replays the same fault schedule (timing on a real network stack is not replayable to the ms).
 * With CHAOS_TRACE=1 a timeline (faults, client events, every fetch() and its outcome, progress
 * each second) is written to a file named in the output.
 */

const TRANSPORTS: TransportName[] = ['websocket', 'sse', 'fetch-stream', 'long-poll'];
const N = 5000;
/**
 * Both sides send for this long at a steady rate (about 167 messages a second each way). With the
 * client's default queue (1,000 messages waiting or unacknowledged) that rides out about 6 s
 * without a working connection; the longest outage the schedule makes is about 4–5 s (a 2 s
 * blackhole, up to 1 s to notice it, a failed attempt or two on connections the blackhole left dead).
 */
const SEND_MS = 30_000;
/** After sending: how long everything may take to arrive and be acknowledged. */
const SETTLE_MS = 10_000;
/** After a blackhole or hold ends, the next fault waits at least this long, so outages do not chain. */
const RECOVERY_MS = 1500;
const TEST_TIMEOUT = SEND_MS + SETTLE_MS + 15_000;

type Kind = 'cut' | 'blackhole' | 'latency' | 'throttle' | 'cut-frame-in-half' | 'hold';
const KINDS: Kind[] = ['cut', 'blackhole', 'latency', 'throttle', 'cut-frame-in-half', 'hold'];

interface Fault {
  at: number;
  kind: Kind;
  /** How long it lasts (blackhole, latency, throttle, hold), ms. */
  ms: number;
  /** Latency in ms, or throttle in bytes per second. */
  value: number;
}

/**
 * The fault schedule over [0, window). Blackhole and hold are outages: the next fault comes
 * RECOVERY_MS after one ends. Latency and throttle are degradations that overlap whatever strikes
 * next (but not another of their own kind).
 */
function schedule(random: () => number, window: number): Fault[] {
  const between = (lo: number, hi: number) => Math.round(lo + random() * (hi - lo));
  const faults: Fault[] = [];
  const busyUntil: Partial<Record<Kind, number>> = {};
  for (let t = between(300, 1000); t < window - 1500; t += between(200, 1500)) {
    let kind = KINDS[Math.floor(random() * KINDS.length)]!;
    if ((busyUntil[kind] ?? 0) > t) kind = 'cut';
    const f: Fault = { at: t, kind, ms: 0, value: 0 };
    if (kind === 'blackhole' || kind === 'hold') f.ms = between(500, 2000);
    if (kind === 'latency') {
      f.ms = between(1000, 3000);
      f.value = between(20, 250);
    }
    if (kind === 'throttle') {
      f.ms = between(1000, 3000);
      f.value = between(8, 48) * 1024;
    }
    faults.push(f);
    busyUntil[kind] = t + f.ms;
    if (kind === 'blackhole' || kind === 'hold') t += f.ms + RECOVERY_MS;
  }
  return faults;
}

function strike(proxy: FaultProxy, f: Fault, on: boolean): void {
  switch (f.kind) {
    case 'cut':
      return on ? proxy.cutAll() : undefined;
    case 'cut-frame-in-half':
      return on ? proxy.cutFrameInHalf() : undefined;
    case 'blackhole':
      return proxy.blackhole(on);
    case 'hold':
      return proxy.holdResponses(on);
    case 'latency':
      return proxy.latency(on ? f.value : 0);
    case 'throttle':
      return proxy.throttle(on ? f.value : 0);
  }
}

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

/** Sends `count` items over `ms` at a steady rate, catching up when a timer fires late. */
function steady(ms: number, count: number, send: (i: number) => void): { done: Promise<void>; stop: () => void } {
  const t0 = performance.now();
  let next = 0;
  let timer: ReturnType<typeof setInterval>;
  const done = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      const due = Math.min(count, Math.floor(((performance.now() - t0) / ms) * count));
      while (next < due) send(next++);
      if (next === count) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  return { done, stop: () => clearInterval(timer) };
}

describe.each(TRANSPORTS)('chaos: %s', (name) => {
  it(
    `${N} messages each way through random network faults: none lost, duplicated or reordered; every send() resolves`,
    async () => {
      const seed = process.env.SEED ? Number(process.env.SEED) : Math.floor(Math.random() * 1e9);
      console.log(
        `chaos ${name}: SEED=${seed} to replay (SEED=${seed} npx vitest run test/integration/chaos.test.ts -t ${name})`,
      );
      const faults = schedule(seeded(seed), SEND_MS);

      const T0 = performance.now();
      const lines: string[] = [];
      const tracing = !!process.env.CHAOS_TRACE;
      const trace = (line: string) =>
        tracing && lines.push(`${String(Math.round(performance.now() - T0)).padStart(6)} ${line}`);
      if (tracing)
        cleanup.push(() => {
          const file = join(tmpdir(), `chaos-${name}-${seed}.log`);
          writeFileSync(file, lines.join('\n') + '\n');
          console.log(`chaos ${name}: trace in ${file}`);
        });

      const s = await startServer({ heartbeatInterval: 400 });
      cleanup.push(() => s.close());
      const proxy = await faultProxy({ targetPort: s.port });
      cleanup.push(() => proxy.close());

      // Server side: one session expected; what it receives, and when.
      const sessions: Session[] = [];
      const atServer: number[] = [];
      const clientSentAt = new Float64Array(N);
      const serverSentAt = new Float64Array(N);
      let worstUp = 0;
      let worstDown = 0;
      s.rt.on('connection', (x: Session) => {
        sessions.push(x);
        x.on('message', (d) => {
          atServer.push(d as number);
          if (typeof d === 'number' && d >= 0 && d < N)
            worstUp = Math.max(worstUp, performance.now() - clientSentAt[d]!);
        });
      });

      let fetches = 0;
      const tracedFetch: typeof fetch = (input, init) => {
        const id = ++fetches;
        const what = `fetch#${id} ${init?.method ?? 'GET'} ${new URL(input instanceof Request ? input.url : input).search}`;
        trace(`${what} sent ${typeof init?.body === 'string' ? init.body.slice(0, 120) : ''}`);
        const p = fetch(input, init);
        p.then(
          (res) => trace(`${what} -> ${res.status}`),
          (e: Error & { cause?: { code?: string } }) =>
            trace(`${what} failed: ${e.name} ${e.message} ${e.cause?.code ?? ''}`),
        );
        return p;
      };
      const c = new RealtimeClient(proxy.url('/realtime'), {
        transports: [name],
        env: tracing ? { ...nodeEnv, fetch: tracedFetch } : nodeEnv,
        reconnect: { initialDelay: 20, maxDelay: 300 },
        // A connect deadline with room for a loaded 2-core CI machine, and a queue that can hold the
        // whole run: this suite is about surviving faults, not the queue bound (tested on its own).
        heartbeat: { timeout: 1000 },
        queue: { maxMessages: N },
      });
      cleanup.push(() => c.close());
      const atClient: number[] = [];
      c.on('message', (d) => {
        atClient.push(d as number);
        if (typeof d === 'number' && d >= 0 && d < N)
          worstDown = Math.max(worstDown, performance.now() - serverSentAt[d]!);
      });
      let opens = 0;
      let resumed = 0;
      c.on('open', (e) => {
        opens++;
        if (e.resumed) resumed++;
      });
      const errors: string[] = [];
      c.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
      c.on('state', (e) => trace(`client state ${e.from} -> ${e.to}`));
      c.on('open', (e) => trace(`client open resumed=${e.resumed}`));
      c.on('error', (e) => trace(`client error ${e.code} ${e.message}`));
      const closes = new Map<string, number>();
      c.on('close', (e) => {
        trace(`client close ${e.code} ${e.reason}`);
        const k = `${e.code} ${e.reason}`;
        closes.set(k, (closes.get(k) ?? 0) + 1);
      });

      // Under load the very first attempt may time out before its welcome (heartbeat.timeout bounds
      // it) and leave an abandoned session behind: the one that counts is the one open now.
      await waitFor(() => sessions.length > 0 && c.state === 'open', { what: 'the first session open' });
      const session = sessions.at(-1)!;
      const sessionsBefore = sessions.length;

      let resolved = 0;
      const rejections: string[] = [];
      // The faults, on their own clock.
      const timers: Array<ReturnType<typeof setTimeout>> = [];
      const struck: Record<string, number> = {};
      for (const f of faults) {
        timers.push(
          setTimeout(() => {
            struck[f.kind] = (struck[f.kind] ?? 0) + 1;
            trace(`FAULT ${f.kind}${f.value ? ` ${f.value}` : ''}${f.ms ? ` for ${f.ms} ms` : ''}`);
            strike(proxy, f, true);
          }, f.at),
        );
        if (f.ms)
          timers.push(
            setTimeout(() => {
              trace(`FAULT ${f.kind} over`);
              strike(proxy, f, false);
            }, f.at + f.ms),
          );
      }
      if (tracing) {
        const progress = setInterval(
          () =>
            trace(
              `progress: server got ${atServer.length}, client got ${atClient.length}, resolved ${resolved}, rejected ${rejections.length}, proxy ${JSON.stringify(proxy.stats)}`,
            ),
          500,
        );
        cleanup.push(() => clearInterval(progress));
      }
      const calm = () => {
        timers.forEach(clearTimeout);
        proxy.blackhole(false);
        proxy.holdResponses(false);
        proxy.latency(0);
        proxy.throttle(0);
      };
      cleanup.push(calm);

      // Both directions at a steady rate.
      let deepestQueue = 0;
      const up = steady(SEND_MS, N, (i) => {
        clientSentAt[i] = performance.now();
        deepestQueue = Math.max(deepestQueue, i - resolved - rejections.length);
        c.send(i).then(
          () => resolved++,
          (e: { code?: string; message?: string }) => rejections.push(`#${i} ${e?.code}: ${e?.message}`),
        );
      });
      const down = steady(SEND_MS, N, (i) => {
        serverSentAt[i] = performance.now();
        session.send(i);
      });
      cleanup.push(up.stop, down.stop);
      const t0 = performance.now();
      await Promise.all([up.done, down.done]);
      calm();

      const complete = () => atClient.length >= N && atServer.length >= N && resolved + rejections.length === N;
      const settleStart = performance.now();
      try {
        await waitFor(complete, { what: 'everything delivered and every send() settled', timeout: SETTLE_MS });
      } catch {
        // Reported below with the figures.
      }
      const settled = performance.now() - settleStart;
      await new Promise((r) => setTimeout(r, 300)); // room for a late duplicate to show itself

      const figures = {
        transport: name,
        seed,
        messages: {
          up: `${atServer.length}/${N} received`,
          down: `${atClient.length}/${N} received`,
          sendResolved: resolved,
          sendRejected: rejections.length,
        },
        faults: struck,
        plannedFaults: faults.length,
        deepestClientQueue: deepestQueue,
        reconnects: opens - 1,
        resumed,
        newSessions: sessions.length - sessionsBefore,
        worstDelayMs: { up: Math.round(worstUp), down: Math.round(worstDown) },
        settleMs: Math.round(settled),
        totalMs: Math.round(performance.now() - t0),
        proxy: { ...proxy.stats },
        clientState: `${c.state} on ${c.transport}`,
        closes: Object.fromEntries(closes),
        errors: errors.slice(0, 10),
      };
      console.log(`chaos ${name} figures:\n${JSON.stringify(figures, null, 2)}`);
      if (rejections.length) console.log(`chaos ${name}: send() rejections:\n${rejections.slice(0, 10).join('\n')}`);

      expect(rejections, `send() rejections (SEED=${seed})`).toEqual([]);
      expect(resolved, `send() promises resolved (SEED=${seed})`).toBe(N);
      expect(sessions.length - sessionsBefore, `new server sessions: the session was lost (SEED=${seed})`).toBe(0);
      expect(sequenceReport(atServer), `client → server (SEED=${seed})`).toBe('0..4999 exactly once, in order');
      expect(sequenceReport(atClient), `server → client (SEED=${seed})`).toBe('0..4999 exactly once, in order');
      expect(opens, 'some faults forced reconnects').toBeGreaterThan(1);
    },
    TEST_TIMEOUT,
  );

  it('a blackhole leaves dead keep-alive sockets in the fetch() pool: the client still recovers, both ways', async () => {
    const s = await startServer({ heartbeatInterval: 400 });
    cleanup.push(() => s.close());
    const proxy = await faultProxy({ targetPort: s.port });
    cleanup.push(() => proxy.close());
    let session: Session | undefined;
    s.rt.on('connection', (x: Session) => (session = x));
    const c = new RealtimeClient(proxy.url('/realtime'), {
      transports: [name],
      env: nodeEnv,
      reconnect: { initialDelay: 20, maxDelay: 300 },
      heartbeat: { timeout: 600 },
    });
    cleanup.push(() => c.close());
    const got: unknown[] = [];
    c.on('message', (d) => got.push(d));
    let opens = 0;
    c.on('open', () => opens++);
    await waitFor(() => session && c.state === 'open', { what: 'open' });
    await c.send('before');
    // Idle keep-alive sockets to the same origin in the global fetch() pool, which the HTTP
    // transports (and the eventsource package) share: after the blackhole they are dead.
    const preflight = () =>
      fetch(proxy.url('/realtime').replace('ws:', 'http:'), { method: 'OPTIONS' }).then((r) => r.arrayBuffer());
    await Promise.all(Array.from({ length: 6 }, preflight));
    proxy.blackhole(true);
    await new Promise((r) => setTimeout(r, 500));
    proxy.blackhole(false);
    const t0 = performance.now();
    const sent = c.send('after');
    session!.send('pushed');
    const outcome = await Promise.race([
      Promise.all([sent, waitFor(() => got.includes('pushed'), { what: 'the push', timeout: 20_000 })]).then(
        () => 'recovered',
      ),
      new Promise<string>((r) => setTimeout(r, 15_000, 'wedged')),
    ]);
    const ms = Math.round(performance.now() - t0);
    console.log(
      `chaos ${name}: after a 500 ms blackhole with 6 dead pooled sockets: ${outcome} in ${ms} ms, ${opens - 1} reconnect(s), state ${c.state}`,
    );
    expect(outcome).toBe('recovered');
    expect(ms).toBeLessThan(10_000);
  }, 30_000);
});

/** Either the expected sentence, or what is wrong: the first missing, duplicated or misplaced numbers. */
function sequenceReport(got: number[]): string {
  if (got.length === N && got.every((v, i) => v === i)) return `0..${N - 1} exactly once, in order`;
  const seen = new Map<number, number>();
  for (const v of got) seen.set(v, (seen.get(v) ?? 0) + 1);
  const missing: number[] = [];
  for (let i = 0; i < N; i++) if (!seen.has(i)) missing.push(i);
  const dups = [...seen].filter(([, n]) => n > 1).map(([v]) => v);
  const firstBad = got.findIndex((v, i) => v !== i);
  return (
    `${got.length} received; missing ${missing.length} (first ${missing.slice(0, 10).join(',')}); ` +
    `duplicated ${dups.length} (first ${dups.slice(0, 10).join(',')}); ` +
    `first out of place at index ${firstBad}: ${JSON.stringify(got.slice(Math.max(0, firstBad - 3), firstBad + 5))}`
  );
}
