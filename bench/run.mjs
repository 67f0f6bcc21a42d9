// npm run bench — our client beside its baselines, in one run, in headless Chromium, against one
// server process (bench/server.mjs). Every figure is reported as a ratio to a baseline measured
// in the same run, with the raw numbers beside it. See BENCHMARKS.md for the method.
//
//   BENCH_QUICK=1   counts scaled down (a few minutes; the 45 s default-settings blackhole is skipped)
//   BENCH_ONLY=a,b  only these parts: size, down, up, rtt, restart, blackhole, memory, first-message, share, cluster
//                   (share: bench/lib/share.mjs, 10 tabs with and without tab sharing, and the holder's death)
//                   (first-message: bench/lib/first-message.mjs, fresh pages direct and behind nginx)
//                   (cluster: bench/cluster.mjs, several node processes with Redis and nginx, Node clients)
//   BENCH_REPS=n    rounds of each throughput figure (default 3, quick 1); the median is reported
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { execSync, spawn } from 'node:child_process';
import { cpus, totalmem, tmpdir, loadavg } from 'node:os';
import { ServerProcess, BenchPage, launchBrowser, root, now, sleep, importBundled } from './lib/harness.mjs';
import { measure as measureSize, sizeMarkdown } from './size.mjs';
import { replaceSection, table, median, percentile } from './lib/report.mjs';
import { clusterMarkdown } from './cluster.mjs';
import { firstMessage, firstMessageMarkdown } from './lib/first-message.mjs';
import { shareBench, shareMarkdown } from './lib/share.mjs';

const QUICK = !!process.env.BENCH_QUICK && process.env.BENCH_QUICK !== '0';
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
const wanted = (part) => !ONLY || ONLY.has(part);
/** The parts that run in headless Chromium against bench/server.mjs. */
const BROWSER_PARTS = ['down', 'up', 'rtt', 'restart', 'blackhole', 'memory', 'first-message', 'share'];
const FAST_HB = 2000; // bench/server.mjs's /realtime-fast and /socket.io-fast
const FAST_TIMEOUT = 1000;
const DEFAULT_HB = 25000;
const DEFAULT_TIMEOUT = 10000;

const N = QUICK
  ? {
      small: 10_000,
      large: 3_000,
      reps: 1,
      rtt: 200,
      warm: 20,
      rttWarm: 1_000,
      restarts: 2,
      blackholes: 2,
      memMessages: 10_000,
      cycles: 100,
      cyclesHttp: 50,
      firstMessage: 3,
    }
  : {
      small: 100_000,
      large: 30_000,
      reps: 3,
      rtt: 1000,
      warm: 100,
      rttWarm: 5_000,
      restarts: 4,
      blackholes: 4,
      memMessages: 10_000,
      cycles: 1000,
      cyclesHttp: 250,
      firstMessage: 7,
    };
if (process.env.BENCH_REPS) N.reps = Number(process.env.BENCH_REPS);
const SIZES = [
  { size: 100, n: N.small, label: '100 B' },
  { size: 1024, n: N.large, label: '1 KB' },
];

const TRANSPORTS = ['websocket', 'sse', 'fetch-stream', 'long-poll'];
/** The clients whose round trip is measured a second time, warmed up (see rtt()). */
const WARM_RTT = ['ours/websocket', 'native-ws', 'sio/websocket'];
const ours = (transport, extra = {}) => ({
  id: `ours/${transport}`,
  name: `**ours, ${transport}**`,
  kind: 'ours',
  params: { transport, path: '/realtime', ...extra },
  ours: true,
});
const NATIVE_WS = { id: 'native-ws', name: 'native WebSocket', kind: 'native-ws', params: {} };
const NATIVE_ES = { id: 'native-es', name: 'native EventSource', kind: 'native-sse', params: {} };
const SIO_WS = {
  id: 'sio/websocket',
  name: 'socket.io-client, websocket',
  kind: 'socketio',
  params: { transport: 'websocket' },
};
const SIO_POLL = {
  id: 'sio/polling',
  name: 'socket.io-client, polling',
  kind: 'socketio',
  params: { transport: 'polling' },
};

const results = { quick: QUICK, counts: N, started: new Date().toISOString(), load: { start: loadavg() } };
const log = (...a) => console.log(...a);
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');

const server = new ServerProcess();
let browser;

async function withPage(cfg, fn, extraParams = {}) {
  const p = await BenchPage.open(browser, server, cfg.kind, { ...cfg.params, ...extraParams });
  try {
    await p.start();
    return await fn(p);
  } finally {
    const errors = await p.errors().catch(() => []);
    if (errors.length) log(`   ! ${cfg.id}: page errors: ${errors.slice(0, 3).join(' | ')}`);
    await p.close();
  }
}

/** Runs `fn`; on failure logs and returns { error } so the rest of the run goes on. */
async function attempt(what, fn) {
  try {
    return await fn();
  } catch (err) {
    log(`   ! ${what} failed: ${String(err?.message ?? err).slice(0, 600)}`);
    return {
      error: String(err?.message ?? err)
        .split('\n')[0]
        .slice(0, 200),
    };
  }
}

// ---- throughput and round trip: every client of a group open at once, measured in turn ----------
// Rounds go through the clients one after another (round-robin) rather than one client at a time,
// so that a change in machine load over the run (other processes, CPU steal) hits ours and the
// baselines alike.

/** Opens and connects a page per config; a config that fails to open is reported, not fatal. */
async function openGroup(configs) {
  const pages = [];
  for (const cfg of configs) {
    try {
      const p = await BenchPage.open(browser, server, cfg.kind, cfg.params);
      await p.start();
      pages.push({ cfg, p, error: null });
    } catch (err) {
      log(`   ! ${cfg.id}: ${String(err.message).slice(0, 300)}`);
      pages.push({ cfg, p: null, error: String(err.message).split('\n')[0].slice(0, 200) });
    }
  }
  return pages;
}

async function closeGroup(pages) {
  for (const { cfg, p } of pages) {
    if (!p) continue;
    const errors = await p.errors().catch(() => []);
    if (errors.length) log(`   ! ${cfg.id}: page errors: ${errors.slice(0, 3).join(' | ')}`);
    await p.close();
  }
}

/** Runs `fn(page)` for each open page of the group, in turn; a failure marks that client failed. */
async function roundRobin(pages, fn) {
  for (const entry of pages) {
    if (entry.error) continue;
    try {
      await fn(entry);
    } catch (err) {
      entry.error = String(err.message).split('\n')[0].slice(0, 200);
      log(`   ! ${entry.cfg.id}: ${entry.error}`);
    }
  }
}

async function throughput(direction, configs) {
  const pages = await openGroup(configs);
  const runs = Object.fromEntries(configs.map((c) => [c.id, Object.fromEntries(SIZES.map(({ size }) => [size, []]))]));
  const call =
    direction === 'down' ? ([n, size]) => window.H.push(n, size, 180000) : ([n, size]) => window.H.up(n, size, 180000);
  try {
    // Warm-up at a tenth of each size, unmeasured: the first large burst pays for JIT tiers and heap
    // growth on both sides (it measured up to 5x slower than the next one for ours).
    for (const { size, n } of SIZES) await roundRobin(pages, ({ p }) => p.eval(call, [Math.ceil(n / 10), size]));
    for (let k = 0; k < N.reps; k++) {
      for (const { size, n, label } of SIZES) {
        await roundRobin(pages, async ({ cfg, p }) => {
          const r = await p.eval(call, [n, size]);
          runs[cfg.id][size].push(r);
          log(
            `   rep ${k + 1} ${cfg.id.padEnd(16)} ${label.padEnd(6)} ${fmt(r.ms).padStart(7)} ms  ${fmt((n / r.ms) * 1000).padStart(8)} msg/s${r.loopMs !== undefined ? `  (send loop ${fmt(r.loopMs)} ms)` : ''}${r.outOfOrder ? `  OUT OF ORDER ${r.outOfOrder}` : ''}`,
          );
          await sleep(200); // acks and timers settle
        });
      }
    }
  } finally {
    await closeGroup(pages);
  }
  const out = {};
  for (const { cfg, error } of pages) {
    if (error) {
      out[cfg.id] = { error };
      continue;
    }
    out[cfg.id] = {};
    for (const { size, n } of SIZES) {
      const rs = runs[cfg.id][size];
      const ms = median(rs.map((x) => x.ms));
      out[cfg.id][size] = {
        n,
        size,
        ms,
        runs: rs.map((x) => Math.round(x.ms)),
        perSec: (n / ms) * 1000,
        mbPerSec: (n * size) / ms / 1000,
        ...(direction === 'up'
          ? { loopMs: median(rs.map((x) => x.loopMs)) }
          : { outOfOrder: rs.reduce((a, x) => a + x.outOfOrder, 0) }),
      };
    }
  }
  return out;
}

async function down() {
  log(`\n== server -> client throughput (${N.reps} round(s), median)`);
  results.down = await throughput('down', [...TRANSPORTS.map((t) => ours(t)), NATIVE_WS, NATIVE_ES, SIO_WS, SIO_POLL]);
}

async function up() {
  log(`\n== client -> server throughput (${N.reps} round(s), median)`);
  // Ours gets a queue large enough for the whole burst (the default, 1,000 messages, refuses the rest: by design).
  const big = { opts: { queue: { maxMessages: 200_000, maxBytes: 1 << 30 } } };
  results.up = await throughput('up', [...TRANSPORTS.map((t) => ours(t, big)), NATIVE_WS, SIO_WS, SIO_POLL]);
}

async function rtt() {
  const chunks = 4;
  log(`\n== echo round trip (${N.rtt} sequential, 100 B, in ${chunks} round-robin chunks, after ${N.warm} warm-up)`);
  const configs = [...TRANSPORTS.map((t) => ours(t)), NATIVE_WS, SIO_WS, SIO_POLL];
  const pages = await openGroup(configs);
  const times = Object.fromEntries(configs.map((c) => [c.id, []]));
  const warmTimes = Object.fromEntries(WARM_RTT.map((id) => [id, []]));
  results.crossOriginIsolated = await pages.find((x) => x.p)?.p.eval(() => window.H.isolated);
  if (!results.crossOriginIsolated)
    log('   ! pages are not cross-origin isolated: performance.now() has 100 µs resolution');
  try {
    await roundRobin(pages, ({ p }) => p.eval(([m, warm]) => window.H.rtt(m, 100, warm), [0, N.warm]));
    for (let k = 0; k < chunks; k++) {
      await roundRobin(pages, async ({ cfg, p }) => {
        times[cfg.id].push(...(await p.eval((m) => window.H.rtt(m, 100, 0, 180000), Math.ceil(N.rtt / chunks))));
      });
    }
    // The same again after many more echoes, over WebSocket only (the ratio the target is about):
    // the first thousand run much of our client's JavaScript before the engine has optimised it,
    // where native WebSocket has almost none to optimise.
    const ws = pages.filter(({ cfg }) => WARM_RTT.includes(cfg.id));
    await roundRobin(ws, ({ p }) => p.eval(([m, warm]) => window.H.rtt(m, 100, warm), [0, N.rttWarm]));
    for (let k = 0; k < chunks; k++) {
      await roundRobin(ws, async ({ cfg, p }) => {
        warmTimes[cfg.id].push(...(await p.eval((m) => window.H.rtt(m, 100, 0, 180000), Math.ceil(N.rtt / chunks))));
      });
    }
  } finally {
    await closeGroup(pages);
  }
  const out = {};
  for (const { cfg, error } of pages) {
    const t = times[cfg.id];
    out[cfg.id] = error
      ? { error }
      : { n: t.length, p50: percentile(t, 50), p99: percentile(t, 99), mean: t.reduce((a, b) => a + b, 0) / t.length };
    if (!error)
      log(
        `   ${cfg.id.padEnd(18)} p50 ${fmt(out[cfg.id].p50, 3)} ms  p99 ${fmt(out[cfg.id].p99, 3)} ms  mean ${fmt(out[cfg.id].mean, 3)} ms`,
      );
  }
  results.rtt = out;
  results.rttWarm = Object.fromEntries(
    Object.entries(warmTimes)
      .filter(([, t]) => t.length)
      .map(([id, t]) => [id, { n: t.length, p50: percentile(t, 50), p99: percentile(t, 99) }]),
  );
  for (const [id, x] of Object.entries(results.rttWarm))
    log(`   ${id.padEnd(18)} after ${N.rttWarm} more: p50 ${fmt(x.p50, 3)} ms  p99 ${fmt(x.p99, 3)} ms`);
}

// ---- recovery: server restart ------------------------------------------------------------------
/** The first event of `type` at or after `t` in a page's event list. */
const firstAfter = (events, type, t) => events.find((e) => e.type === type && e.t >= t);

async function restart() {
  log(`\n== recovery: server process killed and restarted on the same port, ${N.restarts} time(s), default settings`);
  const configs = [...TRANSPORTS.map((t) => ours(t)), SIO_WS, SIO_POLL];
  const pages = [];
  const out = { cycles: [], byClient: {} };
  try {
    for (const cfg of configs) {
      const p = await BenchPage.open(browser, server, cfg.kind, cfg.params);
      await p.start();
      pages.push({ cfg, p });
    }
    for (let c = 0; c < N.restarts; c++) {
      // Ours resets its backoff after 5 s open (reconnect.resetAfter); socket.io on every connect.
      await sleep(6000);
      const opens = await Promise.all(pages.map(({ p }) => p.eval(() => window.H.opens())));
      const tKill = now();
      await server.kill();
      const { t: tListen } = await server.start();
      await Promise.all(pages.map(({ p }, i) => p.waitOpens(opens[i] + 1, 60_000)));
      const cycle = { down: Math.round(tListen - tKill), clients: {} };
      for (const { cfg, p } of pages) {
        const ev = await p.events();
        const close = firstAfter(ev, 'close', tKill);
        const open = firstAfter(ev, 'open', tKill);
        cycle.clients[cfg.id] = {
          noticed: close ? close.t - tKill : NaN,
          reconnect: open.t - tListen,
          total: open.t - tKill,
        };
      }
      out.cycles.push(cycle);
      log(
        `   restart ${c + 1}: server down ${cycle.down} ms; reconnected after relisten: ${Object.entries(cycle.clients)
          .map(([k, v]) => `${k} ${fmt(v.reconnect)} ms`)
          .join(', ')}`,
      );
    }
  } finally {
    for (const { p } of pages) await p.close();
  }
  for (const cfg of configs) {
    const rs = out.cycles.map((c) => c.clients[cfg.id]?.reconnect).filter(Number.isFinite);
    out.byClient[cfg.id] = {
      median: median(rs),
      max: Math.max(...rs),
      all: rs.map((x) => Math.round(x)),
      noticed: median(out.cycles.map((c) => c.clients[cfg.id]?.noticed).filter(Number.isFinite)),
    };
  }
  results.restart = out;
}

// ---- recovery: blackholed connection ---------------------------------------------------------
async function blackholeRound(pages, label) {
  const counts = await Promise.all(pages.map(({ p }) => p.eval(() => window.H.events.length)));
  const { t: tBh, sockets } = await server.command('blackhole');
  const deadline = Date.now() + 70_000;
  const got = {};
  for (const [i, { cfg, p }] of pages.entries()) {
    for (;;) {
      const ev = (await p.events()).slice(counts[i]);
      const close = ev.find((e) => e.type === 'close' && e.t >= tBh);
      if (close) {
        got[cfg.id] = { noticed: close.t - tBh, detail: close.detail };
        break;
      }
      if (Date.now() > deadline) {
        got[cfg.id] = { noticed: NaN, detail: 'not noticed within 70 s' };
        break;
      }
      await sleep(50);
    }
  }
  log(
    `   ${label}: ${sockets} sockets blackholed; noticed after: ${Object.entries(got)
      .map(([k, v]) => `${k} ${fmt(v.noticed)} ms`)
      .join(', ')}`,
  );
  return got;
}

async function openAll(configs) {
  const pages = [];
  for (const cfg of configs) {
    const p = await BenchPage.open(browser, server, cfg.kind, cfg.params);
    await p.start();
    pages.push({ cfg, p });
  }
  return pages;
}

async function blackhole() {
  const out = {};
  if (!QUICK) {
    log(
      `\n== recovery: blackholed connection, default settings (ours: heartbeatInterval ${DEFAULT_HB} + timeout ${DEFAULT_TIMEOUT}; socket.io: pingInterval 25000 + pingTimeout 20000)`,
    );
    const configs = [...TRANSPORTS.map((t) => ours(t)), SIO_WS, SIO_POLL];
    const pages = await openAll(configs);
    try {
      await sleep(1000);
      out.defaults = await blackholeRound(pages, 'defaults');
    } finally {
      for (const { p } of pages) await p.close();
    }
    await server.restart(); // forget the blackholed sockets
  }
  log(
    `\n== recovery: blackholed connection, short settings (ours: heartbeatInterval ${FAST_HB} + timeout ${FAST_TIMEOUT}; socket.io: pingInterval ${FAST_HB} + pingTimeout ${FAST_TIMEOUT}), ${N.blackholes} round(s)`,
  );
  const fast = [
    ...TRANSPORTS.map((t) => ({
      ...ours(t, { path: '/realtime-fast', opts: { heartbeat: { timeout: FAST_TIMEOUT } } }),
    })),
    { ...SIO_WS, params: { ...SIO_WS.params, path: '/socket.io-fast' } },
    { ...SIO_POLL, params: { ...SIO_POLL.params, path: '/socket.io-fast' } },
  ];
  const pages = await openAll(fast);
  out.short = [];
  try {
    for (let r = 0; r < N.blackholes; r++) {
      if (r > 0) {
        // A fresh server process between rounds: the blackholed sockets are gone (the browser would
        // otherwise reuse pooled keep-alive ones for new HTTP requests), and every client reconnects.
        const tRestart = now();
        await server.restart();
        for (const { cfg, p } of pages) {
          await p.page
            .waitForFunction((t) => window.H.events.some((e) => e.type === 'open' && e.t > t), tRestart, {
              timeout: 30_000,
              every: 20,
            })
            .catch(() => log(`   ! ${cfg.id} not open again 30 s after the restart`));
        }
      }
      // Then a random part of a heartbeat interval, so the blackhole falls anywhere in the ping cycle.
      await sleep(500 + Math.random() * FAST_HB);
      out.short.push(await blackholeRound(pages, `short #${r + 1}`));
    }
  } finally {
    for (const { p } of pages) await p.close();
  }
  await server.restart();
  results.blackhole = out;
}

// ---- memory ---------------------------------------------------------------------------------
async function memory() {
  log(
    `\n== memory: JS heap after forced GC; ${N.memMessages} messages, then reconnect cycles (${N.cycles} over WebSocket, ${N.cyclesHttp} over HTTP transports)`,
  );
  // Fast reconnects for everyone, so 1,000 cycles take seconds.
  const fastOurs = { reconnect: { initialDelay: 1, maxDelay: 1 } };
  const fastSio = { reconnectionDelay: 1, reconnectionDelayMax: 1, randomizationFactor: 0 };
  const configs = [
    ...TRANSPORTS.map((t) => ({ ...ours(t, { opts: fastOurs }), cycles: t === 'websocket' ? N.cycles : N.cyclesHttp })),
    { ...NATIVE_WS, params: { reconnect: 1 }, cycles: N.cycles },
    { ...NATIVE_ES, cycles: 0 },
    { ...SIO_WS, params: { ...SIO_WS.params, opts: fastSio }, cycles: N.cycles },
    { ...SIO_POLL, params: { ...SIO_POLL.params, opts: fastSio }, cycles: N.cyclesHttp },
  ];
  const out = {};
  // What the page's JavaScript retains (a heap snapshot walked from its globals): usedSize also
  // counts compiled code and the browser's records of requests and console messages, which grow
  // with the cycles whatever the library does (test/browser/heap-snapshot.ts says more).
  const { retainedIn } = await importBundled('heap-snapshot.mjs', {
    entryPoints: [`${root}/test/browser/heap-snapshot.ts`],
  });
  const heap = async (p) => {
    await sleep(300); // acks and timers settle
    await p.eval(() => window.H.forget());
    return (await p.heap()).usedSize;
  };
  const retained = async (p) => retainedIn(await p.page.heapSnapshot()).bytes;
  for (const cfg of configs) {
    out[cfg.id] = await attempt(cfg.id, () =>
      withPage(cfg, async (p) => {
        const connected = await heap(p);
        await p.eval((n) => window.H.push(n, 100), N.memMessages);
        const afterMessages = await heap(p);
        const r = { connected, afterMessages, cycles: cfg.cycles, afterHalf: NaN, afterCycles: NaN, cycleMs: NaN };
        if (cfg.cycles) {
          // Measured at half-way too: growth that continues in the second half is a leak, a one-off step is not.
          r.cycleMs = (await p.eval((k) => window.H.cycles(k), cfg.cycles / 2)).ms;
          r.afterHalf = await heap(p);
          r.retainedHalf = await retained(p);
          r.cycleMs += (await p.eval((k) => window.H.cycles(k), cfg.cycles / 2)).ms;
          r.afterCycles = await heap(p);
          r.retainedEnd = await retained(p);
        }
        const k = (x) => (Number.isFinite(x) ? `${fmt(x / 1024)} KiB` : 'n/a');
        log(
          `   ${cfg.id.padEnd(18)} connected ${k(connected)}, after messages ${k(afterMessages)}, after ${cfg.cycles / 2} / ${cfg.cycles} cycles ${k(r.afterHalf)} / ${k(r.afterCycles)} (${fmt(r.cycleMs)} ms)` +
            (cfg.cycles ? `; retained by the page's JS ${k(r.retainedHalf)} / ${k(r.retainedEnd)}` : ''),
        );
        return r;
      }),
    );
  }
  results.memory = out;
}

// ---- cluster -----------------------------------------------------------------------------------
/**
 * bench/cluster.mjs in its own process, started by a shell that first raises its soft limit of
 * open files to the hard one: 10,000 sessions on one node take as many sockets, and every process
 * it starts (nodes, client processes, nginx, redis-server) inherits the limit.
 */
async function cluster() {
  log(
    '\n== cluster: sessions in Redis across 3 node processes, against 1 node and against socket.io (bench/cluster.mjs)',
  );
  const out = `${tmpdir()}/realtime-client-bench-cluster-${Date.now()}.json`;
  const child = spawn(
    'sh',
    [
      '-c',
      'ulimit -n "$(ulimit -Hn)" 2>/dev/null; echo "   open files limit: $(ulimit -n)"; exec "$0" "$@"',
      process.execPath,
      `${root}/bench/cluster.mjs`,
      out,
    ],
    { stdio: 'inherit', cwd: root },
  );
  const code = await new Promise((resolve) => child.on('exit', (c, sig) => resolve(sig ?? c)));
  if (code !== 0) log(`   ! bench/cluster.mjs exited with ${code}`);
  results.cluster = existsSync(out)
    ? JSON.parse(readFileSync(out, 'utf8'))
    : { error: `bench/cluster.mjs exited with ${code} and wrote no results` };
}

// ---- report -----------------------------------------------------------------------------------
function machine() {
  const sh = (cmd) => {
    try {
      return execSync(cmd, { encoding: 'utf8' }).trim();
    } catch {
      return 'n/a';
    }
  };
  const v = (name) => JSON.parse(readFileSync(`${root}/node_modules/${name}/package.json`, 'utf8')).version;
  return {
    nproc: sh('nproc'),
    cpu: cpus()[0]?.model ?? 'n/a',
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    chromium: browser?.version() ?? 'n/a',
    os: sh('uname -sr'),
    versions: {
      'socket.io': v('socket.io'),
      'socket.io-client': v('socket.io-client'),
      ws: v('ws'),
      'playwright-core': v('playwright-core'),
      esbuild: v('esbuild'),
    },
    commit: sh('git rev-parse --short HEAD'),
    dirty: sh('git status --porcelain -- src') ? 'src/ has uncommitted changes' : 'clean src/',
  };
}

const cell = (r, f) => (r && !r.error ? f(r) : r?.error ? `failed: ${r.error}` : 'n/a');

function report() {
  const md = {};
  const m = results.machine;
  // A run of the cluster section alone leaves the other sections, and the machine table that
  // describes their run, as they were: the cluster section says when and how loaded its run was.
  const clusterOnly = ONLY && [...ONLY].every((p) => p === 'cluster');
  if (results.cluster)
    md.cluster = results.cluster.error ? `Failed: ${results.cluster.error}` : clusterMarkdown(results.cluster);
  if (clusterOnly) return md;
  md.machine = [
    `Run ${results.started}${QUICK ? ' (**BENCH_QUICK=1: reduced counts, not the reference figures**)' : ''} at commit ${m.commit} (${m.dirty}).`,
    '',
    table(
      ['', ''],
      [
        ['cores (`nproc`)', m.nproc],
        ['CPU', m.cpu],
        ['memory', m.memory],
        ['OS', m.os],
        ['Node', m.node],
        ['Chromium (headless)', m.chromium],
        [
          'baselines',
          Object.entries(m.versions)
            .map(([k, x]) => `${k} ${x}`)
            .join(', '),
        ],
        [
          'load average (1/5/15 min) at start, at end',
          `${results.load.start.map((x) => x.toFixed(2)).join(' / ')}, ${results.load.end?.map((x) => x.toFixed(2)).join(' / ') ?? 'n/a'}`,
        ],
        [
          'duration',
          `${results.seconds} s (${Object.entries(results.partSeconds ?? {})
            .map(([k, v]) => `${k} ${v} s`)
            .join(', ')}), plus \`npm run build\``,
        ],
      ],
    ),
  ].join('\n');

  if (results.down) {
    const d = results.down;
    const base = (id, size) => d[id]?.[size]?.perSec;
    const parts = [];
    for (const { size, n, label } of SIZES) {
      parts.push(
        `**${n.toLocaleString('en')} messages of ${label}**, ratios are throughput ÷ the baseline's (above 1 = ours is faster):`,
        '',
      );
      const rows = Object.entries(d).map(([id, r]) => {
        const x = r?.[size];
        const isOurs = id.startsWith('ours/');
        return [
          isOurs ? `**${id}**` : id,
          cell(r, () => `${fmt(x.ms)} ms`),
          cell(r, () => fmt(x.perSec)),
          cell(r, () => fmt(x.mbPerSec, 1)),
          ...(isOurs
            ? ['native-ws', 'native-es', 'sio/websocket', 'sio/polling'].map((b) =>
                cell(r, () => ratio(x.perSec, base(b, size))),
              )
            : ['', '', '', '']),
        ];
      });
      parts.push(
        table(
          [
            'client',
            'time',
            'msg/s',
            'MB/s',
            '× native WebSocket',
            '× native EventSource',
            '× socket.io websocket',
            '× socket.io polling',
          ],
          rows,
        ),
        '',
      );
    }
    md.down = parts.join('\n');
  }

  if (results.up) {
    const u = results.up;
    const parts = [];
    for (const { size, n, label } of SIZES) {
      parts.push(
        `**${n.toLocaleString('en')} messages of ${label}**, sent in one loop; time until the server reports the last one; ratios are throughput ÷ the baseline's:`,
        '',
      );
      const rows = Object.entries(u).map(([id, r]) => {
        const x = r?.[size];
        const isOurs = id.startsWith('ours/');
        return [
          isOurs ? `**${id}**` : id,
          cell(r, () => `${fmt(x.ms)} ms`),
          cell(r, () => `${fmt(x.loopMs)} ms`),
          cell(r, () => fmt(x.perSec)),
          ...(isOurs
            ? ['native-ws', 'sio/websocket', 'sio/polling'].map((b) =>
                cell(r, () => ratio(x.perSec, u[b]?.[size]?.perSec)),
              )
            : ['', '', '']),
        ];
      });
      parts.push(
        table(
          [
            'client',
            'time',
            'of which the send() loop',
            'msg/s',
            '× native WebSocket',
            '× socket.io websocket',
            '× socket.io polling',
          ],
          rows,
        ),
        '',
      );
    }
    md.up = parts.join('\n');
  }

  if (results.rtt) {
    const t = results.rtt;
    const rows = Object.entries(t).map(([id, r]) => {
      const isOurs = id.startsWith('ours/');
      return [
        isOurs ? `**${id}**` : id,
        cell(r, () => `${fmt(r.p50, 3)} ms`),
        cell(r, () => `${fmt(r.p99, 3)} ms`),
        ...(isOurs
          ? [
              cell(r, () => ratio(r.p50, t['native-ws']?.p50)),
              cell(r, () => ratio(r.p99, t['native-ws']?.p99)),
              cell(r, () => ratio(r.p50, t['sio/websocket']?.p50)),
              cell(r, () => ratio(r.p50, t['sio/polling']?.p50)),
            ]
          : ['', '', '', '']),
      ];
    });
    const w = results.rttWarm ?? {};
    md.rtt = [
      `${N.rtt} sequential echoes of 100 B after ${N.warm} untimed; ratios are latency ÷ the baseline's (below 1 = ours is faster):`,
      '',
      table(
        ['client', 'p50', 'p99', 'p50 ÷ native WS', 'p99 ÷ native WS', 'p50 ÷ socket.io ws', 'p50 ÷ socket.io polling'],
        rows,
      ),
      '',
      `The WebSocket clients again, warmed up: ${N.rtt} more echoes after ${N.rttWarm} further untimed ones (the first thousand run much of a library's JavaScript before the engine has optimised it):`,
      '',
      table(
        ['client', 'p50', 'p99', 'p50 ÷ native WS', 'p50 ÷ socket.io ws'],
        WARM_RTT.filter((id) => w[id]).map((id) => [
          id,
          `${fmt(w[id].p50, 3)} ms`,
          `${fmt(w[id].p99, 3)} ms`,
          id === 'native-ws' ? '' : ratio(w[id].p50, w['native-ws']?.p50),
          id.startsWith('ours/') ? ratio(w[id].p50, w['sio/websocket']?.p50) : '',
        ]),
      ),
    ].join('\n');
  }

  const rec = [];
  if (results.restart) {
    const r = results.restart;
    if (r.error) rec.push(`Restart: failed: ${r.error}`);
    else {
      const by = r.byClient;
      rec.push(
        `**Server restart** (process killed, new process listening on the same port; server down ${r.cycles.map((c) => c.down).join(', ')} ms in the ${r.cycles.length} restarts). Time from the new server listening to the client's open event; ratio to socket.io-client with its defaults (below 1 = ours is back sooner):`,
        '',
        table(
          [
            'client',
            'median',
            'max',
            'each restart',
            'noticed the drop after (median)',
            '÷ socket.io ws',
            '÷ socket.io polling',
          ],
          Object.entries(by).map(([id, x]) => [
            id.startsWith('ours/') ? `**${id}**` : id,
            `${fmt(x.median)} ms`,
            `${fmt(x.max)} ms`,
            x.all.join(', '),
            `${fmt(x.noticed)} ms`,
            id.startsWith('ours/') ? ratio(x.median, by['sio/websocket']?.median) : '',
            id.startsWith('ours/') ? ratio(x.median, by['sio/polling']?.median) : '',
          ]),
        ),
        '',
      );
    }
  }
  if (results.blackhole) {
    const b = results.blackhole;
    if (b.error) rec.push(`Blackhole: failed: ${b.error}`);
    else {
      const bound = (id, short) =>
        id.startsWith('ours/')
          ? short
            ? FAST_HB + FAST_TIMEOUT
            : DEFAULT_HB + DEFAULT_TIMEOUT
          : short
            ? FAST_HB + FAST_TIMEOUT
            : 25000 + 20000;
      const rows = [];
      const ids = Object.keys(b.short?.[0] ?? b.defaults ?? {});
      for (const id of ids) {
        if (b.defaults) {
          const x = b.defaults[id];
          rows.push([
            id.startsWith('ours/') ? `**${id}**` : id,
            'defaults',
            `${fmt(x.noticed)} ms`,
            `${bound(id, false)} ms`,
            x.noticed <= bound(id, false) ? 'yes' : 'NO',
            id.startsWith('ours/') ? ratio(x.noticed, b.defaults['sio/websocket']?.noticed) : '',
          ]);
        }
        if (b.short) {
          const xs = b.short.map((s) => s[id]?.noticed);
          const worst = Math.max(...xs.map((x) => (Number.isFinite(x) ? x : Infinity)));
          rows.push([
            id.startsWith('ours/') ? `**${id}**` : id,
            'short',
            xs.map((x) => fmt(x)).join(', ') + ' ms',
            `${bound(id, true)} ms`,
            worst <= bound(id, true) ? 'yes' : 'NO',
            id.startsWith('ours/') ? ratio(median(xs), median(b.short.map((s) => s['sio/websocket']?.noticed))) : '',
          ]);
        }
      }
      rec.push(
        `**Blackhole** (the server stops writing on every open socket and never closes it). Time from the blackhole to the client's close/disconnect event, against the bound (interval + timeout): ours \`heartbeatInterval + heartbeat.timeout\`, socket.io \`pingInterval + pingTimeout\`. Defaults: ours 25000 + 10000, socket.io 25000 + 20000${QUICK ? ' (skipped in quick mode)' : ''}; short: both ${FAST_HB} + ${FAST_TIMEOUT}, blackholed at a random point of the interval. Ratio: ours ÷ socket.io websocket (medians).`,
        '',
        table(['client', 'settings', 'noticed after', 'bound', 'within bound', '÷ socket.io ws'], rows),
      );
    }
  }
  if (rec.length) md.recovery = rec.join('\n');

  if (results.memory) {
    const mm = results.memory;
    const kib = (x) => (Number.isFinite(x) ? `${fmt(x / 1024)} KiB` : 'n/a');
    const delta = (a, b) =>
      Number.isFinite(a) && Number.isFinite(b) ? `${a - b >= 0 ? '+' : ''}${fmt((a - b) / 1024)}` : 'n/a';
    const nat = mm['native-ws'];
    const sio = mm['sio/websocket'];
    const rows = Object.entries(mm).map(([id, r]) => {
      const isOurs = id.startsWith('ours/');
      return [
        isOurs ? `**${id}**` : id,
        cell(r, () => kib(r.connected)),
        cell(r, () => `${kib(r.afterMessages)} (${delta(r.afterMessages, r.connected)})`),
        cell(r, () =>
          r.cycles
            ? `${r.cycles.toLocaleString('en')}: ${kib(r.afterCycles)} (${delta(r.afterHalf, r.afterMessages)} in the first half, ${delta(r.afterCycles, r.afterHalf)} in the second)`
            : 'not run',
        ),
        cell(r, () => (r.cycles ? delta(r.retainedEnd, r.retainedHalf) : 'not run')),
        ...(isOurs
          ? [
              cell(r, () => ratio(r.afterMessages, nat?.afterMessages)),
              cell(r, () => ratio(r.afterMessages, sio?.afterMessages)),
              cell(r, () => (r.cycles === nat?.cycles ? ratio(r.afterCycles, nat?.afterCycles) : '')),
              cell(r, () => (r.cycles === sio?.cycles ? ratio(r.afterCycles, sio?.afterCycles) : '')),
            ]
          : ['', '', '', '']),
      ];
    });
    md.memory = [
      `JS heap in use (CDP \`Runtime.getHeapUsage\` after \`HeapProfiler.collectGarbage\`), page and library code included; Δ in KiB. That figure also grows with compiled code (V8 optimising functions as they get hot) and with the browser's records of each request and console message (a 404 for a link the server dropped), which no script holds; "retained" is what the page's JavaScript holds: a heap snapshot walked from its globals along strong edges, code left out. Ratios: ours ÷ baseline (below 1 = ours uses less); the cycle ratios compare equal cycle counts only:`,
      '',
      table(
        [
          'client',
          'connected',
          `after ${N.memMessages.toLocaleString('en')} messages (Δ)`,
          'after reconnect cycles (Δ)',
          'retained, second half (Δ)',
          '÷ native WS, messages',
          '÷ socket.io ws, messages',
          '÷ native WS, cycles',
          '÷ socket.io ws, cycles',
        ],
        rows,
      ),
    ].join('\n');
  }

  if (results.firstMessage)
    md['first-message'] = results.firstMessage.error
      ? `Failed: ${results.firstMessage.error}`
      : firstMessageMarkdown(results.firstMessage);

  if (results.share) md.share = results.share.error ? `Failed: ${results.share.error}` : shareMarkdown(results.share);
  md.targets = targets();
  return md;
}

/** The targets of issues 5, 14 (sizes) and 17 (speed), judged from this run's figures. */
function targets() {
  const rows = [];
  const verdict = (ok) => (ok === undefined ? 'not measured' : ok ? 'met' : '**missed**');
  // Sizes: issue 14's targets (bench/size/goals.json, judged by bench/size.mjs), which replaced issue 5's.
  const bundle = {
    'bench/size/ours-websocket.js': 'WebSocket-only bundle',
    'bench/size/ours-full.js': 'full bundle',
    'dist/realtime.min.js': 'IIFE (dist/realtime.min.js)',
  };
  for (const t of results.size?.targets ?? [])
    rows.push([
      `${bundle[t.entry] ?? t.entry} ≤ ${fmt(t.target / 1024, 1)} KB min+gzip`,
      `${t.gzip} B (${fmt(t.gzip / 1024, 2)} KiB)`,
      verdict(Number.isFinite(t.gzip) ? t.met : undefined),
      t.met ? '' : `${t.gzip - t.target} B over (${fmt(t.gzip / t.target, 2)}× the target)`,
    ]);
  const r = (a, b) => (Number.isFinite(a) && Number.isFinite(b) ? a / b : NaN);
  /** A row for "ours ÷ baseline ≥ min". */
  const atLeast = (target, x, min) =>
    rows.push([
      target,
      `${fmt(x, 2)}×`,
      verdict(Number.isFinite(x) ? x >= min : undefined),
      x < min ? `${fmt((min - x) * 100, 0)} points short` : '',
    ]);
  const d = results.down;
  if (d) {
    const down = (ours, base, size) => r(d[ours]?.[size]?.perSec, d[base]?.[size]?.perSec);
    for (const { size, label } of SIZES)
      atLeast(
        `throughput ≥ 0.95× native WebSocket one-by-one (${label})`,
        down('ours/websocket', 'native-ws', size),
        0.95,
      );
    for (const { size, label } of SIZES)
      atLeast(
        `long-poll ≥ 1× socket.io polling under backlog (${label})`,
        down('ours/long-poll', 'sio/polling', size),
        1,
      );
    for (const { size, label } of SIZES)
      atLeast(
        `long-poll ≥ 0.9× native EventSource under backlog (${label})`,
        down('ours/long-poll', 'native-es', size),
        0.9,
      );
    for (const { size, label } of SIZES)
      atLeast(`SSE ≥ 0.9× native EventSource (${label})`, down('ours/sse', 'native-es', size), 0.9);
  }
  const u = results.up;
  if (u) {
    // Issue 17: the HTTP transports' upstream, against socket.io's polling, at 1 KB.
    const big = SIZES[SIZES.length - 1];
    for (const t of ['fetch-stream', 'sse'])
      atLeast(
        `client → server: ours/${t} ≥ 1.2× socket.io polling (${big.label})`,
        r(u[`ours/${t}`]?.[big.size]?.perSec, u['sio/polling']?.[big.size]?.perSec),
        1.2,
      );
  }
  const t = results.rtt;
  if (t) {
    const x = r(t['ours/websocket']?.p50, t['native-ws']?.p50);
    const warm = r(results.rttWarm?.['ours/websocket']?.p50, results.rttWarm?.['native-ws']?.p50);
    rows.push([
      'p50 round trip within 10% of native WebSocket',
      `${fmt(x, 2)}× (${fmt(t['ours/websocket']?.p50, 3)} vs ${fmt(t['native-ws']?.p50, 3)} ms); warmed up ${fmt(warm, 2)}×`,
      verdict(Number.isFinite(x) ? x <= 1.1 : undefined),
      x > 1.1 ? `${fmt((x - 1.1) * 100, 0)} points over` : '',
    ]);
  }
  const b = results.blackhole;
  if (b && !b.error) {
    const oursIds = TRANSPORTS.map((x) => `ours/${x}`);
    const checks = [];
    if (b.defaults) for (const id of oursIds) checks.push([b.defaults[id]?.noticed, DEFAULT_HB + DEFAULT_TIMEOUT]);
    for (const s of b.short ?? []) for (const id of oursIds) checks.push([s[id]?.noticed, FAST_HB + FAST_TIMEOUT]);
    const worst = checks.reduce((acc, [x, bound]) => Math.max(acc, Number.isFinite(x) ? x / bound : Infinity), 0);
    rows.push([
      'dead connection noticed within interval + timeout (every transport, every round)',
      `worst: ${fmt(worst * 100, 0)}% of the bound`,
      verdict(worst <= 1),
      worst > 1 ? 'over the bound' : '',
    ]);
  }
  const mem = results.memory;
  if (mem) {
    const grown = TRANSPORTS.map((x) => mem[`ours/${x}`]).map((m) => (m ? m.retainedEnd - m.retainedHalf : NaN));
    const worst = Math.max(...grown);
    rows.push([
      'JS heap retained: growth in the second half of the reconnect cycles ≤ 10 KiB (every transport)',
      `worst ${fmt(worst / 1024, 1)} KiB (${TRANSPORTS.map((x, i) => `${x} ${fmt(grown[i] / 1024, 1)}`).join(', ')})`,
      verdict(Number.isFinite(worst) ? worst <= 10 * 1024 : undefined),
      worst > 10 * 1024 ? `${fmt((worst - 10 * 1024) / 1024, 1)} KiB over` : '',
    ]);
  }
  const first = results.firstMessage?.setups?.['nginx-buffering']?.clients?.ours;
  if (first) {
    rows.push([
      'fresh page behind a buffering proxy: first message within 3 s (median, from the page script)',
      `${fmt(first.median)} ms (max ${fmt(first.max)} ms)`,
      verdict(Number.isFinite(first.median) ? first.median <= 3000 : undefined),
      first.median > 3000 ? `${fmt(first.median - 3000)} ms over` : '',
    ]);
  }
  return table(['target', 'this run', 'verdict', 'by how much'], rows);
}

function writeReport() {
  const md = report();
  const file = `${root}/BENCHMARKS.md`;
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (results.size) doc = replaceSection(doc, 'size', sizeMarkdown(results.size));
  for (const [name, content] of Object.entries(md)) doc = replaceSection(doc, name, content);
  writeFileSync(file, doc);
  const json = `${tmpdir()}/realtime-client-bench-${Date.now()}.json`;
  writeFileSync(json, JSON.stringify(results, null, 2));
  log(`\nwrote BENCHMARKS.md; raw results: ${json}`);
  if (md.targets) log(`\n${md.targets}`);
}

// ---- main -----------------------------------------------------------------------------------
const t0 = Date.now();
if (!existsSync(`${root}/dist/realtime.min.js`) || !existsSync(`${root}/dist/server.js`))
  throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');
try {
  if (wanted('size')) {
    log('== bundle size');
    results.size = await measureSize();
    for (const x of results.size.rows)
      log(`   ${x.lib.padEnd(75)} ${String(x.min).padStart(7)} B min ${String(x.gzip).padStart(7)} B min+gzip`);
    log(`   tree-shaking of the WebSocket-only bundle: ${results.size.treeShaken ? 'ok' : 'FAILED'}`);
  }
  if (BROWSER_PARTS.some(wanted)) {
    await server.start();
    browser = await launchBrowser();
  }
  results.machine = machine();
  if (results.load.start[0] > cpus().length)
    log(
      `\n! load average ${results.load.start[0].toFixed(2)} on ${cpus().length} cores: other processes are busy, figures will be noisy`,
    );
  log(
    `\n${browser ? `bench server ${server.url}, Chromium ${results.machine.chromium}, ` : ''}Node ${process.version}, ${results.machine.nproc} cores${QUICK ? ', QUICK' : ''}`,
  );
  results.partSeconds = {};
  const part = async (name, fn) => {
    if (!wanted(name)) return;
    const t = Date.now();
    await fn();
    results.partSeconds[name] = Math.round((Date.now() - t) / 1000);
  };
  await part('down', down);
  await part('up', up);
  await part('rtt', rtt);
  await part('restart', async () => (results.restart = (await attempt('restart', restart)) ?? results.restart));
  await part(
    'blackhole',
    async () => (results.blackhole = (await attempt('blackhole', blackhole)) ?? results.blackhole),
  );
  await part('memory', memory);
  await part('first-message', async () => {
    log(
      `\n== time to first message: fresh pages, default transports, direct and behind nginx (${N.firstMessage} run(s) each)`,
    );
    results.firstMessage = await attempt('first-message', () =>
      firstMessage({ browser, server, runs: N.firstMessage, log }),
    );
  });
  await part('share', async () => {
    log('\n== tab sharing: 10 tabs with and without share; the holding tab closed and crashed');
    results.share = await attempt('share', () => shareBench({ log, quick: QUICK }));
  });
  await part('cluster', cluster);
  results.seconds = Math.round((Date.now() - t0) / 1000);
  results.load.end = loadavg();
  writeReport();
  log(`\ntotal ${results.seconds} s`);
} finally {
  await browser?.close().catch(() => {});
  await server.kill();
}
