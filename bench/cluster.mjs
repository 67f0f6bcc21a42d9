// The cluster section of `npm run bench` (issue 11): sessions in Redis across three node
// processes, against one node with its sessions in memory, and against socket.io with
// @socket.io/redis-streams-adapter on the same nodes. bench/run.mjs starts this file as its own
// process, in a shell that first raises the file-descriptor limit (soft to hard), so that every
// process it starts inherits it; it writes its results as JSON to the file named by its argument,
// and run.mjs turns them into BENCHMARKS.md's section with clusterMarkdown() below.
//
//   node bench/cluster.mjs OUT.json      (or BENCH_ONLY=cluster npm run bench)
//   BENCH_QUICK=1                        reduced counts (a smoke test, not the reference figures)
//
// The services are those of the tests (test/services/): a redis-server, node processes running
// bench/cluster/node.mjs, nginx in front; the clients are Node processes (bench/cluster/clients.mjs).
// See BENCHMARKS.md, "Cluster", for what is measured and how.
import { execFileSync, fork, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { root, now, sleep } from './lib/harness.mjs';
import { table, median, percentile } from './lib/report.mjs';

const QUICK = !!process.env.BENCH_QUICK && process.env.BENCH_QUICK !== '0';
/** BENCH_CLUSTER_PARTS=a,b: only these parts of the section (throughput, sticky, kill, scale), when diagnosing. */
const PARTS = process.env.BENCH_CLUSTER_PARTS ? new Set(process.env.BENCH_CLUSTER_PARTS.split(',')) : null;
export const CLUSTER_N = QUICK
  ? { msgs: 5_000, reps: 1, killRounds: 1, perKind: 6, sticky: 6, scale: [200, 1_000], broadcasts: 2, procs: 2 }
  : { msgs: 20_000, reps: 3, killRounds: 3, perKind: 12, sticky: 10, scale: [1_000, 10_000], broadcasts: 3, procs: 4 };
const N = CLUSTER_N;
const NODE_SCRIPT = `${root}/bench/cluster/node.mjs`;
const CLIENT_SCRIPT = `${root}/bench/cluster/clients.mjs`;
const TICK_MS = 50;
const SLOW_MS = 10_000;
const OURS = ['websocket', 'sse', 'fetch-stream', 'long-poll'];
const log = (...a) => console.log(...a);
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

// ---- processes ---------------------------------------------------------------------------------

/** A process of clients (bench/cluster/clients.mjs), driven over IPC. */
class ClientProcess {
  #seq = 0;
  #waiting = new Map();

  static async start(index) {
    const p = new ClientProcess();
    p.index = index;
    p.child = fork(CLIENT_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], cwd: root });
    p.child.on('message', (m) => {
      if (m?.reply === undefined) return;
      const w = p.#waiting.get(m.reply);
      p.#waiting.delete(m.reply);
      if (m.ok) w?.resolve(m.result);
      else w?.reject(new Error(`client process ${index}: ${m.error}`));
    });
    p.exited = new Promise((r) => p.child.once('exit', r));
    await new Promise((resolve, reject) => {
      p.child.once('message', resolve);
      p.child.once('exit', (code) => reject(new Error(`client process exited (${code}) before it was ready`)));
    });
    return p;
  }

  cmd(cmd, args = {}) {
    const req = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#waiting.set(req, { resolve, reject });
      this.child.send({ cmd, req, ...args });
    });
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** CPU time (user + system) of processes, in ms, from /proc (Linux; NaN elsewhere). */
function cpuMs(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch {
      return NaN;
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

/** Open file descriptors of a process (Linux; NaN elsewhere). */
function fds(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/** nginx's version (`nginx -v` prints it on stderr). */
async function nginxVersion() {
  const { stderr } = spawnSync(await S.ensureBinary('nginx', 'nginx-light'), ['-v'], { encoding: 'utf8' });
  return /nginx\/([\d.]+)/.exec(stderr ?? '')?.[1] ?? 'n/a';
}

const getJson = async (url, init) => {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
};

// ---- the run -----------------------------------------------------------------------------------

let S; // test/services, bundled
const owned = []; // everything to stop at the end, last first
const git = (args) => {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return 'n/a';
  }
};
const results = {
  quick: QUICK,
  counts: N,
  started: new Date().toISOString(),
  commit: git(['rev-parse', '--short', 'HEAD']),
  dirty: git(['status', '--porcelain', '--', 'src']) ? 'src/ has uncommitted changes' : 'clean src/',
  node: process.version,
  cores: cpus().length,
  load: { start: loadavg() },
  partSeconds: {},
};

async function startNodes(count, redisUrl) {
  const nodes = await S.startNodeProcesses(NODE_SCRIPT, count, {
    env: { REDIS_URL: redisUrl ?? '' },
    execArgv: ['--expose-gc'],
    cwd: root,
  });
  owned.push(() => Promise.all(nodes.map((n) => n.stop())));
  return nodes;
}

async function stopNodes(nodes) {
  await Promise.all(nodes.map((n) => n.stop()));
}

async function startNginx(backends, balance) {
  // max_fails=0: a killed node is tried again by every new connection (and skipped when refused),
  // so that it takes clients again as soon as it is back.
  const lb = await S.startNginx({ backends, balance, serverParams: 'max_fails=0', workerConnections: 4096 });
  owned.push(() => lb.destroy());
  return lb;
}

/** Redis INFO commandstats and CPU: totals of calls and µs per command, and CPU seconds. */
async function redisStats(redis) {
  const stats = await S.redisInfo(redis.port, 'commandstats');
  const cpu = await S.redisInfo(redis.port, 'cpu');
  const calls = {};
  for (const [k, v] of Object.entries(stats)) {
    const m = /calls=(\d+),usec=(\d+)/.exec(v);
    if (m) calls[k.replace(/^cmdstat_/, '')] = { calls: Number(m[1]), usec: Number(m[2]) };
  }
  return { calls, cpuMs: (Number(cpu.used_cpu_user) + Number(cpu.used_cpu_sys)) * 1000 };
}

function statsDelta(a, b) {
  const out = {};
  for (const [k, v] of Object.entries(b.calls)) {
    const before = a.calls[k] ?? { calls: 0, usec: 0 };
    if (v.calls > before.calls) out[k] = { calls: v.calls - before.calls, usec: v.usec - before.usec };
  }
  return { calls: out, cpuMs: b.cpuMs - a.cpuMs };
}

// ---- A: throughput, 1 node (memory) against 3 nodes (Redis) ------------------------------------------------

const KINDS = [
  ...OURS.map((t) => ({ id: `ours/${t}`, lib: 'ours', transport: t })),
  { id: 'sio/websocket', lib: 'sio', transport: 'websocket' },
  { id: 'sio/polling', lib: 'sio', transport: 'polling' },
];
const BIG_QUEUE = { queue: { maxMessages: 200_000, maxBytes: 1 << 30 } };

/**
 * One client per kind through nginx, measured in turn (as bench/run.mjs does): warm-up at a
 * tenth, then N.reps rounds of push and up. CPU time of every process involved is read around
 * each measure, and Redis's command counts, to show where the time goes.
 */
async function throughput(label, { oursUrl, sioUrl, nodes, redis, lbs, proc }) {
  const out = {};
  const opened = [];
  for (const k of KINDS) {
    const r = await proc.cmd('open', {
      lib: k.lib,
      transport: k.transport,
      urls: [k.lib === 'ours' ? `${oursUrl}/realtime` : sioUrl],
      count: 1,
      opts: k.lib === 'ours' ? BIG_QUEUE : {},
      timeoutMs: 15_000,
    });
    if (r.open) opened.push({ k, id: r.ids[0] });
    else out[k.id] = { error: r.failures[0] ?? 'did not open' };
  }
  const pids = {
    nodes: nodes.flatMap((n) => n.pids()),
    nginx: lbs.flatMap((lb) => lb.pids()),
    redis: redis ? [redis.pid] : [],
    clients: [proc.child.pid],
  };
  const runs = Object.fromEntries(opened.map(({ k }) => [k.id, { down: [], up: [] }]));
  for (const { id } of opened) {
    await proc.cmd('push', { id, n: Math.ceil(N.msgs / 10), size: 100 }).catch(() => {});
    await proc.cmd('up', { id, n: Math.ceil(N.msgs / 10), size: 100 }).catch(() => {});
  }
  for (let rep = 0; rep < N.reps; rep++) {
    for (const dir of ['down', 'up']) {
      for (const { k, id } of opened) {
        if (runs[k.id].error) continue;
        const cpu0 = Object.fromEntries(Object.entries(pids).map(([w, p]) => [w, cpuMs(p)]));
        const r0 = redis ? await redisStats(redis) : null;
        try {
          const r = await proc.cmd(dir === 'down' ? 'push' : 'up', { id, n: N.msgs, size: 100, limitMs: 120_000 });
          await sleep(150); // acks and their writes settle, so their CPU is counted
          const cpu = Object.fromEntries(Object.entries(pids).map(([w, p]) => [w, cpuMs(p) - cpu0[w]]));
          const rs = redis ? statsDelta(r0, await redisStats(redis)) : null;
          runs[k.id][dir].push({ ms: r.ms, outOfOrder: r.outOfOrder ?? 0, cpu, redis: rs });
          log(
            `   ${label} rep ${rep + 1} ${dir.padEnd(4)} ${k.id.padEnd(17)} ${fmt(r.ms).padStart(6)} ms ${fmt((N.msgs / r.ms) * 1000).padStart(7)} msg/s  cpu ms: ${Object.entries(
              cpu,
            )
              .map(([w, v]) => `${w} ${fmt(v)}`)
              .join(
                ', ',
              )}${rs ? `; redis calls ${Object.values(rs.calls).reduce((a, x) => a + x.calls, 0)}` : ''}${r.outOfOrder ? ` OUT OF ORDER ${r.outOfOrder}` : ''}`,
          );
        } catch (err) {
          runs[k.id].error = String(err.message).split('\n')[0].slice(0, 200);
          log(`   ! ${label} ${k.id} ${dir}: ${runs[k.id].error}`);
        }
        await sleep(100);
      }
    }
  }
  await proc.cmd('close', {});
  for (const { k } of opened) {
    const r = runs[k.id];
    if (r.error) {
      out[k.id] = { error: r.error };
      continue;
    }
    const sum = (dir) => {
      const xs = r[dir];
      const ms = median(xs.map((x) => x.ms));
      // CPU and Redis per message: the median round's figures over its messages.
      const mid = xs.find((x) => x.ms === ms);
      const redisCalls = mid.redis ? Object.values(mid.redis.calls).reduce((a, x) => a + x.calls, 0) : 0;
      return {
        ms,
        perSec: (N.msgs / ms) * 1000,
        runs: xs.map((x) => Math.round(x.ms)),
        outOfOrder: xs.reduce((a, x) => a + x.outOfOrder, 0),
        cpuUsPerMsg: Object.fromEntries(Object.entries(mid.cpu).map(([w, v]) => [w, (v * 1000) / N.msgs])),
        redis: mid.redis
          ? {
              callsPerMsg: redisCalls / N.msgs,
              cpuUsPerMsg: (mid.redis.cpuMs * 1000) / N.msgs,
              byCommand: Object.fromEntries(
                Object.entries(mid.redis.calls).map(([c, v]) => [c, { perMsg: v.calls / N.msgs, usec: v.usec }]),
              ),
            }
          : null,
      };
    };
    out[k.id] = { down: sum('down'), up: sum('up') };
  }
  return out;
}

// ---- B: without stickiness -----------------------------------------------------------------

/** K clients of each kind through one balancer, all at once: who opens, who errs, who answers an echo. */
async function stickiness(label, { url, kinds, proc, addresses }) {
  const out = {};
  const opened = await Promise.all(
    kinds.map((k) =>
      proc.cmd('open', {
        lib: k.lib,
        transport: k.transport,
        urls: [k.lib === 'ours' ? `${url}/realtime` : url],
        count: N.sticky,
        localAddresses: k.lib === 'sio' ? addresses : undefined,
        timeoutMs: 8_000,
        concurrency: N.sticky,
      }),
    ),
  );
  // A little longer, as an application would wait, then one echo each.
  await sleep(2_000);
  for (const [i, k] of kinds.entries()) {
    const ids = opened[i].ids;
    const rep = await proc.cmd('report', { ids });
    const echo = await proc.cmd('echo', { ids, ms: 5_000 });
    const evs = Object.values(rep).map((r) => r.events);
    const errors = evs.reduce((a, e) => a + e.filter((x) => x.type === 'error').length, 0);
    const sample = evs.flat().find((x) => x.type === 'error');
    out[k.id] = {
      clients: ids.length,
      openedIn8s: opened[i].open,
      errors,
      closes: evs.reduce((a, e) => a + e.filter((x) => x.type === 'close').length, 0),
      echoed: echo.answered,
      errorSample: sample ? [sample.message, sample.description].filter(Boolean).join(': ').slice(0, 120) : '',
      openMs: opened[i].open
        ? median(
            evs
              .map((e) => e.find((x) => x.type === 'open')?.t)
              .filter(Boolean)
              .map((t) => t - (evs[0].length ? 0 : 0)),
          )
        : NaN,
    };
    log(
      `   ${label} ${k.id.padEnd(18)} opened ${out[k.id].openedIn8s}/${ids.length} within 8 s, errors ${errors}, closes ${out[k.id].closes}, echo answered ${echo.answered}/${ids.length}${sample ? ` (e.g. ${out[k.id].errorSample})` : ''}`,
    );
    await proc.cmd('close', { ids });
  }
  return out;
}

// ---- C: a node killed ----------------------------------------------------------------------

/**
 * Clients of every kind spread over the 3 nodes (ours round robin; socket.io by its sticky hash,
 * each client from its own 127.0.0.x); node 1 broadcasts a tick every TICK_MS to everyone; node
 * 0 is SIGKILLed. For the clients it held: time to the close event and to the next open (on
 * another node), whether the session was resumed / recovered, and ticks missing in what each
 * received (ours: broadcasts are kept in Redis for a disconnected session).
 */
async function killRounds({ nodes, rrUrl, stickyUrl, proc, addresses }) {
  const kinds = [
    ...OURS.map((t) => ({ id: `ours/${t}`, lib: 'ours', transport: t })),
    { id: 'sio/websocket', lib: 'sio', transport: 'websocket' },
    { id: 'sio/polling', lib: 'sio', transport: 'polling' },
  ];
  const per = Object.fromEntries(kinds.map((k) => [k.id, []]));
  const rounds = [];
  // A kind whose clients took longer than SLOW_MS to come back is measured in the first round
  // only: each round lasts as long as its slowest client.
  const slow = new Set();
  for (let round = 0; round < N.killRounds; round++) {
    const ids = {};
    for (const k of kinds) {
      if (slow.has(k.id)) continue;
      const r = await proc.cmd('open', {
        lib: k.lib,
        transport: k.transport,
        urls: [k.lib === 'ours' ? `${rrUrl}/realtime` : stickyUrl],
        count: N.perKind,
        localAddresses: k.lib === 'sio' ? addresses : undefined,
        offset: round * 7,
        timeoutMs: 15_000,
      });
      ids[k.id] = r.ids;
    }
    const all = Object.values(ids).flat();
    const where = await proc.cmd('where', { ids: all });
    const victims = nodes[0].name;
    await getJson(`${nodes[1].url}/ctl/ticker?ms=${TICK_MS}`, { method: 'POST' });
    await sleep(1_000);
    const tKill = now();
    await nodes[0].kill();
    const tGone = now();
    const onVictim = all.filter((id) => where[id] === victims);
    const { late } = await proc.cmd('waitOpens', {
      ids: onVictim,
      n: 2,
      ms: Number(process.env.BENCH_KILL_WAIT_MS || 60_000),
    });
    await sleep(1_500); // ticks after the resume
    await getJson(`${nodes[1].url}/ctl/ticker?ms=0`, { method: 'POST' });
    await sleep(300);
    const rep = await proc.cmd('report', { ids: all });
    const summary = {};
    for (const k of kinds) {
      for (const id of ids[k.id] ?? []) {
        if (where[id] !== victims) continue;
        const ev = rep[id].events;
        const close = ev.find((e) => e.type === 'close' && e.t >= tKill);
        const open = ev.find((e) => e.type === 'open' && e.t >= tKill);
        const x = {
          round,
          closedWith: close ? `${close.code ?? ''} ${close.reason ?? ''}`.trim() : '',
          noticed: close ? close.t - tKill : NaN,
          back: open ? open.t - tKill : NaN,
          resumed: open ? !!open.resumed : false,
          missing: rep[id].ticks.missing,
          repeated: rep[id].ticks.repeated,
          late: late.includes(id),
        };
        per[k.id].push(x);
        (summary[k.id] ??= []).push(x);
      }
    }
    // Clients of the other nodes: the ticks must be whole there too (a sanity check of the ticker).
    const othersMissing = all
      .filter((id) => where[id] && where[id] !== victims)
      .reduce((a, id) => a + rep[id].ticks.missing, 0);
    const unknown = all.filter((id) => !where[id]).length;
    rounds.push({ killMs: tGone - tKill, onVictim: onVictim.length, othersMissing, unknown });
    log(
      `   round ${round + 1}: ${onVictim.length} of ${all.length} clients on the killed node (kill took ${fmt(tGone - tKill)} ms; ${unknown} did not answer 'where'); ticks missing on the other nodes' clients: ${othersMissing}`,
    );
    for (const [kid, xs] of Object.entries(summary)) {
      log(
        `     ${kid.padEnd(18)} back after ${xs.map((x) => fmt(x.back)).join(', ')} ms; resumed ${xs.filter((x) => x.resumed).length}/${xs.length}; ticks missing ${xs.map((x) => x.missing).join(', ')}; closed with ${[...new Set(xs.map((x) => x.closedWith))].join(' | ')}`,
      );
      if (xs.some((x) => !(x.back <= SLOW_MS))) slow.add(kid);
    }
    await proc.cmd('close', {});
    await nodes[0].start();
    await sleep(300);
  }
  const out = {};
  for (const [id, xs] of Object.entries(per)) {
    const back = xs.map((x) => x.back).filter(Number.isFinite);
    out[id] = {
      n: xs.length,
      rounds: new Set(xs.map((x) => x.round)).size,
      noticedMedian: median(xs.map((x) => x.noticed).filter(Number.isFinite)),
      backMedian: median(back),
      backP90: percentile(back, 90),
      backMax: back.length ? Math.max(...back) : NaN,
      resumed: xs.filter((x) => x.resumed).length,
      withLoss: xs.filter((x) => x.missing > 0).length,
      missingTotal: xs.reduce((a, x) => a + x.missing, 0),
      repeated: xs.reduce((a, x) => a + x.repeated, 0),
      notBack: xs.filter((x) => !Number.isFinite(x.back)).length,
      closedWith: [...new Set(xs.map((x) => x.closedWith))],
    };
  }
  return { byKind: out, rounds };
}

// ---- D: many idle sessions -----------------------------------------------------------------

const SCALE_KINDS = [
  { id: 'ours/websocket', lib: 'ours', transport: 'websocket' },
  { id: 'ours/long-poll', lib: 'ours', transport: 'long-poll' },
  { id: 'sio/websocket', lib: 'sio', transport: 'websocket' },
  { id: 'sio/polling', lib: 'sio', transport: 'polling' },
];
const WARM = 100;

async function nodeMemory(nodes) {
  const ms = await Promise.all(nodes.map((n) => getJson(`${n.url}/ctl/mem`)));
  return {
    heapUsed: ms.reduce((a, m) => a + m.heapUsed, 0),
    external: ms.reduce((a, m) => a + m.external, 0),
    rss: ms.reduce((a, m) => a + m.rss, 0),
    sessions: ms.reduce((a, m) => a + m.sessions, 0),
    sockets: ms.reduce((a, m) => a + m.sockets, 0),
    fds: nodes.reduce((a, n) => a + fds(n.pid), 0),
  };
}

/** Broadcasts one message from node 0 and waits until every client of this kind has it (or 60 s). */
async function broadcastOnce(nodes, procs, lib, b, expected, redis) {
  const r0 = redis ? await redisStats(redis) : null;
  const since = now();
  const r = await getJson(`${nodes[0].url}/ctl/broadcast?lib=${lib}&id=${b}`, { method: 'POST' });
  const end = Date.now() + 60_000;
  let got;
  for (;;) {
    got = await Promise.all(procs.map((p) => p.cmd('broadcastTimes', { b })));
    const received = got.reduce((a, g) => a + g.times.length, 0);
    if (received >= expected || Date.now() > end) break;
    await sleep(50);
  }
  const times = got.flatMap((g) => g.times).map((t) => t - r.t0);
  let redisCalls;
  if (redis) {
    await sleep(300); // the clients' acks, and what they cost in Redis
    const d = statsDelta(r0, await redisStats(redis));
    redisCalls = {
      total: Object.values(d.calls).reduce((a, x) => a + x.calls, 0),
      scripts: d.calls.evalsha?.calls ?? 0,
      cpuMs: d.cpuMs,
    };
  }
  // What the clients went through meanwhile: closes and errors (a client that lost its connection gets the message after its resume).
  const sums = await Promise.all(procs.map((p) => p.cmd('summary', { since })));
  const events = {};
  const reasons = {};
  for (const x of sums) {
    for (const [k, v] of Object.entries(x.types)) events[k] = (events[k] ?? 0) + v;
    for (const [k, v] of x.top) reasons[k] = (reasons[k] ?? 0) + v;
  }
  return {
    returned: r.returned,
    n: r.n,
    received: times.length,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    all: times.length ? Math.max(...times) : NaN,
    redisCalls,
    events,
    reasons,
  };
}

async function scale(label, { count, redis }, procs) {
  const out = {};
  for (const k of SCALE_KINDS) {
    // Fresh nodes (and an empty Redis) for each kind, so one's leftovers do not count as another's.
    if (redis) await redis.command('FLUSHALL');
    const nodes = await startNodes(count, redis?.url);
    const urls = nodes.map((n) => (k.lib === 'ours' ? `${n.url}/realtime` : n.url));
    const open = async (total, offset) => {
      const per = Math.ceil(total / procs.length);
      const rs = await Promise.all(
        procs.map((p, i) =>
          p.cmd('open', {
            lib: k.lib,
            transport: k.transport,
            urls,
            count: Math.min(per, total - i * per),
            offset: offset + i * per,
            concurrency: 50,
            timeoutMs: 120_000,
          }),
        ),
      );
      return {
        open: rs.reduce((a, r) => a + r.open, 0),
        failed: rs.reduce((a, r) => a + r.failed, 0),
        failures: rs.flatMap((r) => r.failures).slice(0, 2),
      };
    };
    const entry = { steps: [] };
    try {
      const t0 = now();
      await open(WARM, 0);
      await sleep(500);
      const base = await nodeMemory(nodes);
      const redisBase = redis ? Number((await S.redisInfo(redis.port, 'memory')).used_memory) : NaN;
      let have = 0;
      let b = 0;
      for (const target of N.scale) {
        const t = now();
        const o = await open(target - have, WARM + have);
        const openMs = now() - t;
        have = target;
        if (o.failed) log(`   ! ${label} ${k.id}: ${o.failed} of ${target} did not open: ${o.failures.join(' | ')}`);
        await sleep(1_000); // the last handshakes' garbage and timers settle
        const mem = await nodeMemory(nodes);
        const redisMem = redis ? Number((await S.redisInfo(redis.port, 'memory')).used_memory) : NaN;
        const broadcasts = [];
        for (let i = 0; i < N.broadcasts; i++) {
          broadcasts.push(await broadcastOnce(nodes, procs, k.lib, ++b, WARM + target, redis));
          await sleep(300);
        }
        const step = {
          sessions: target,
          opened: o.open,
          openMs,
          heapPerSession: (mem.heapUsed - base.heapUsed) / target,
          externalPerSession: (mem.external - base.external) / target,
          rssPerSession: (mem.rss - base.rss) / target,
          redisPerSession: (redisMem - redisBase) / target,
          serverSessions: mem.sessions,
          serverSockets: mem.sockets,
          fds: mem.fds,
          broadcasts,
          // A broadcast that had not reached every client within 60 s counts as 60 s or more.
          broadcastAll: median(broadcasts.map((x) => (x.received < WARM + target ? Infinity : x.all))),
          incomplete: broadcasts
            .filter((x) => x.received < WARM + target)
            .map((x) => `${x.received.toLocaleString('en')} of ${(WARM + target).toLocaleString('en')}`),
          clientCloses: broadcasts.reduce((a, x) => a + (x.events.close ?? 0), 0),
          broadcastP50: median(broadcasts.map((x) => x.p50)),
          broadcastReturned: median(broadcasts.map((x) => x.returned)),
          // Per broadcast and session reached, in Redis: every command (those run inside scripts included), script calls, CPU µs.
          redisPerBroadcast: redis
            ? {
                calls: median(broadcasts.map((x) => x.redisCalls.total)) / (WARM + target),
                scripts: median(broadcasts.map((x) => x.redisCalls.scripts)) / (WARM + target),
                cpuUs: (median(broadcasts.map((x) => x.redisCalls.cpuMs)) * 1000) / (WARM + target),
              }
            : null,
        };
        entry.steps.push(step);
        for (const x of broadcasts)
          if (x.events.close || x.events.error || x.received < WARM + target)
            log(
              `   ! ${label} ${k.id} broadcast ${x.received}/${WARM + target} in ${fmt(x.all)} ms; client events meanwhile ${JSON.stringify(x.events)}: ${JSON.stringify(x.reasons)}`,
            );
        log(
          `   ${label} ${k.id.padEnd(15)} ${String(target).padStart(6)} sessions (+${WARM} warm-up; opened in ${fmt(openMs)} ms): heap ${fmt(step.heapPerSession / 1024, 1)} KiB/session, external ${fmt(step.externalPerSession / 1024, 1)}, rss ${fmt(step.rssPerSession / 1024, 1)}${redis ? `, redis ${fmt(step.redisPerSession / 1024, 1)}` : ''}; fds ${mem.fds}; broadcast to all: ${broadcasts.map((x) => `${fmt(x.all)} ms (${x.received}/${WARM + target}, call ${fmt(x.returned)} ms)`).join(', ')}${step.redisPerBroadcast ? `; Redis per broadcast and session: ${fmt(step.redisPerBroadcast.calls, 1)} commands, ${fmt(step.redisPerBroadcast.scripts, 1)} script calls, ${fmt(step.redisPerBroadcast.cpuUs, 1)} µs CPU` : ''}`,
        );
      }
      entry.seconds = Math.round((now() - t0) / 1000);
    } catch (err) {
      entry.error = String(err.message).split('\n')[0].slice(0, 200);
      log(`   ! ${label} ${k.id}: ${entry.error}`);
    } finally {
      await Promise.all(procs.map((p) => p.cmd('close', {}).catch(() => {})));
      await stopNodes(nodes);
    }
    out[k.id] = entry;
  }
  return out;
}

// ---- main ---------------------------------------------------------------------------------

async function main(outFile) {
  const t0 = Date.now();
  const { loadServices } = await import('./cluster/services.mjs');
  S = await loadServices();
  await S.ensureServices('redis', 'nginx');
  const part = async (name, fn) => {
    if (PARTS && !PARTS.has(name)) return;
    const t = Date.now();
    const load = loadavg()[0];
    log(`\n== cluster: ${name} (load average ${load.toFixed(2)})`);
    try {
      results[name] = await fn();
    } catch (err) {
      log(`   ! ${name} failed: ${String(err?.stack ?? err).slice(0, 800)}`);
      results[name] = {
        error: String(err?.message ?? err)
          .split('\n')[0]
          .slice(0, 200),
      };
    }
    results.partSeconds[name] = Math.round((Date.now() - t) / 1000);
  };
  const procs = [];
  try {
    for (let i = 0; i < N.procs; i++) procs.push(await ClientProcess.start(i));
    owned.push(() => Promise.all(procs.map((p) => p.stop())));
    const proc = procs[0];
    const redis = await S.startRedis();
    owned.push(() => redis.destroy());
    results.redisVersion = (await S.redisInfo(redis.port, 'server')).redis_version;
    const v = (name) => JSON.parse(readFileSync(`${root}/node_modules/${name}/package.json`, 'utf8')).version;
    results.versions = {
      'socket.io': v('socket.io'),
      '@socket.io/redis-streams-adapter': v('@socket.io/redis-streams-adapter'),
      ioredis: v('ioredis'),
      nginx: await nginxVersion(),
    };
    // Source addresses for socket.io's clients behind the sticky balancer (hash on $remote_addr).
    const addresses = Array.from({ length: 24 }, (_, i) => `127.0.0.${10 + i}`);

    await part('throughput', async () => {
      const one = await startNodes(1);
      const lb1 = await startNginx([one[0].port]);
      const single = await throughput('1 node', {
        oursUrl: lb1.url,
        sioUrl: lb1.url,
        nodes: one,
        redis: null,
        lbs: [lb1],
        proc,
      });
      await lb1.destroy();
      await stopNodes(one);
      await redis.command('FLUSHALL');
      const three = await startNodes(3, redis.url);
      const rr = await startNginx(three.map((n) => n.port));
      const sticky = await startNginx(
        three.map((n) => n.port),
        { hash: '$remote_addr consistent' },
      );
      const triple = await throughput('3 nodes', {
        oursUrl: rr.url,
        sioUrl: sticky.url,
        nodes: three,
        redis,
        lbs: [rr, sticky],
        proc,
      });
      await Promise.all([rr.destroy(), sticky.destroy()]);
      await stopNodes(three);
      return { one: single, three: triple };
    });

    await redis.command('FLUSHALL');
    const three = await startNodes(3, redis.url);
    const rr = await startNginx(three.map((n) => n.port));
    const sticky = await startNginx(
      three.map((n) => n.port),
      { hash: '$remote_addr consistent' },
    );

    await part('sticky', async () => {
      const kinds = [
        ...OURS.map((t) => ({ id: `ours/${t}`, lib: 'ours', transport: t })),
        { id: 'sio/default', lib: 'sio', transport: 'default' },
        { id: 'sio/polling', lib: 'sio', transport: 'polling' },
        { id: 'sio/websocket', lib: 'sio', transport: 'websocket' },
      ];
      const roundRobin = await stickiness('round robin', { url: rr.url, kinds, proc, addresses });
      const withSticky = await stickiness('sticky', {
        url: sticky.url,
        kinds: kinds.filter((k) => k.lib === 'sio'),
        proc,
        addresses,
      });
      return { roundRobin, sticky: withSticky };
    });

    await part('kill', () => killRounds({ nodes: three, rrUrl: rr.url, stickyUrl: sticky.url, proc, addresses }));
    await Promise.all([rr.destroy(), sticky.destroy()]);
    await stopNodes(three);

    await part('scale', async () => {
      const one = await scale('1 node', { count: 1, redis: null }, procs);
      const three = await scale('3 nodes', { count: 3, redis }, procs);
      return { one, three };
    });
  } finally {
    for (const stop of owned.reverse()) await Promise.resolve(stop()).catch(() => {});
  }
  results.seconds = Math.round((Date.now() - t0) / 1000);
  results.load.end = loadavg();
  if (outFile) writeFileSync(outFile, JSON.stringify(results, null, 2));
  log(
    `\ncluster section: ${results.seconds} s (${Object.entries(results.partSeconds)
      .map(([k, v]) => `${k} ${v} s`)
      .join(', ')})`,
  );
}

// ---- report ---------------------------------------------------------------------------------

const PEER = {
  'ours/websocket': 'sio/websocket',
  'ours/sse': 'sio/polling',
  'ours/fetch-stream': 'sio/polling',
  'ours/long-poll': 'sio/polling',
};
const bold = (id) => (id.startsWith('ours/') ? `**${id}**` : id);
const x2 = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');
const kib = (bytes) => (Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(1)} KiB` : 'n/a');
const ms = (x) => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');

/** BENCHMARKS.md's cluster section, from the results of one run of this file. */
export function clusterMarkdown(r) {
  const n = r.counts;
  const out = [];
  out.push(
    `Run ${r.started}${r.quick ? ' (**BENCH_QUICK=1: reduced counts, not the reference figures**)' : ''} at commit ${r.commit} (${r.dirty}), Node ${r.node}, ${r.cores} cores: ${r.seconds} s (${Object.entries(
      r.partSeconds,
    )
      .map(([k, v]) => `${k} ${v} s`)
      .join(
        ', ',
      )}); load average (1/5/15 min) ${r.load.start.map((x) => x.toFixed(2)).join(' / ')} at its start, ${r.load.end?.map((x) => x.toFixed(2)).join(' / ') ?? 'n/a'} at its end; redis-server ${r.redisVersion ?? 'n/a'}, ${Object.entries(
      r.versions ?? {},
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '',
  );

  const t = r.throughput;
  if (t?.error) out.push(`Throughput: failed: ${t.error}`, '');
  else if (t) {
    const rate = (side, id, dir) => side?.[id]?.[dir]?.perSec;
    const cellRate = (side, id, dir) =>
      side?.[id]?.error
        ? `failed: ${side[id].error.slice(0, 60)}`
        : Number.isFinite(rate(side, id, dir))
          ? `${Math.round(rate(side, id, dir)).toLocaleString('en')}`
          : 'n/a';
    const ids = [...new Set([...Object.keys(t.one ?? {}), ...Object.keys(t.three ?? {})])];
    out.push(
      `**Throughput**, ${n.msgs.toLocaleString('en')} messages of 100 B each way, median of ${n.reps} round(s), in msg/s. One client at a time, every client through nginx: to 1 node with sessions in memory, or round robin over 3 nodes with sessions in Redis (socket.io: over the same 3 nodes, sticky on the client address, with the Redis streams adapter). "3 ÷ 1" is what the cluster keeps of one node's rate; "× socket.io" compares with socket.io on the same 3 nodes (websocket for ours/websocket, polling for the HTTP transports).`,
      '',
      table(
        [
          'client',
          'server→client, 1 node',
          '3 nodes',
          '3 ÷ 1',
          '× socket.io (3 nodes)',
          'client→server, 1 node',
          '3 nodes',
          '3 ÷ 1',
          '× socket.io (3 nodes)',
        ],
        ids.map((id) => [
          bold(id),
          cellRate(t.one, id, 'down'),
          cellRate(t.three, id, 'down'),
          x2(rate(t.three, id, 'down'), rate(t.one, id, 'down')),
          PEER[id] ? x2(rate(t.three, id, 'down'), rate(t.three, PEER[id], 'down')) : '',
          cellRate(t.one, id, 'up'),
          cellRate(t.three, id, 'up'),
          x2(rate(t.three, id, 'up'), rate(t.one, id, 'up')),
          PEER[id] ? x2(rate(t.three, id, 'up'), rate(t.three, PEER[id], 'up')) : '',
        ]),
      ),
      '',
      `Where the time of a server→client burst goes (the median round): CPU time of each kind of process per message, from /proc, and the commands Redis ran per message (INFO commandstats; those a script runs count too):`,
      '',
      table(
        [
          'client',
          '1 node: node CPU',
          'nginx',
          'client',
          '3 nodes: nodes CPU',
          'Redis CPU',
          'nginx',
          'client',
          'Redis commands / message',
          'of which script calls',
        ],
        ids.map((id) => {
          const a = t.one?.[id]?.down;
          const b = t.three?.[id]?.down;
          const us = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} µs` : 'n/a');
          return [
            bold(id),
            us(a?.cpuUsPerMsg.nodes),
            us(a?.cpuUsPerMsg.nginx),
            us(a?.cpuUsPerMsg.clients),
            us(b?.cpuUsPerMsg.nodes),
            us(b?.cpuUsPerMsg.redis),
            us(b?.cpuUsPerMsg.nginx),
            us(b?.cpuUsPerMsg.clients),
            fmt(b?.redis?.callsPerMsg, 2),
            fmt(b?.redis?.byCommand?.evalsha?.perMsg ?? 0, 3),
          ];
        }),
      ),
      '',
    );
  }

  const st = r.sticky;
  if (st?.error) out.push(`Stickiness: failed: ${st.error}`, '');
  else if (st) {
    const rows = [];
    for (const [balancer, group] of [
      ['round robin', st.roundRobin],
      ['sticky (hash $remote_addr)', st.sticky],
    ])
      for (const [id, x] of Object.entries(group ?? {}))
        rows.push([
          bold(id),
          balancer,
          `${x.openedIn8s} / ${x.clients}`,
          String(x.errors),
          String(x.closes),
          `${x.echoed} / ${x.clients}`,
          x.errorSample || '',
        ]);
    out.push(
      `**Without sticky sessions** (3 nodes, Redis): ${n.sticky} clients of each kind at once through nginx, round robin, then socket.io's through the sticky one. Opened within 8 s; connect errors and disconnects in that time and 2 s more; then one echo each (answered within 5 s). socket.io "default" is its default transports, polling then the upgrade to websocket.`,
      '',
      table(['client', 'balancer', 'opened', 'connect errors', 'disconnects', 'echo answered', 'error, e.g.'], rows),
      '',
    );
  }

  const k = r.kill;
  if (k?.error) out.push(`Node killed: failed: ${k.error}`, '');
  else if (k) {
    out.push(
      `**A node killed** (SIGKILL; 3 nodes, Redis): ${n.perKind} clients of each kind, default settings, spread over the nodes (ours round robin, socket.io sticky, each of its clients from its own 127.0.0.x); node 1 broadcasts a tick every ${TICK_MS} ms to every session (ours \`rt.broadcast\`, socket.io \`io.emit\`); node 0 is killed. For the clients that node held, over ${k.rounds.length} round(s) (a kind that took over ${SLOW_MS / 1000} s was measured in the first round only): time from the kill to the close event and to the next open, on another node; whether the session came back (ours \`resumed\`, socket.io \`socket.recovered\`); ticks missing in what each received.`,
      '',
      table(
        [
          'client',
          'clients (rounds)',
          'noticed (median)',
          'back: median',
          'p90',
          'max',
          'not back in 60 s',
          'resumed / recovered',
          'clients that lost ticks',
          'ticks lost in all',
        ],
        Object.entries(k.byKind).map(([id, x]) => [
          bold(id),
          `${x.n} (${x.rounds})`,
          ms(x.noticedMedian),
          ms(x.backMedian),
          ms(x.backP90),
          ms(x.backMax),
          String(x.notBack),
          `${x.resumed} / ${x.n}`,
          `${x.withLoss} / ${x.n}`,
          String(x.missingTotal),
        ]),
      ),
      '',
    );
  }

  const sc = r.scale;
  if (sc?.error) out.push(`Scale: failed: ${sc.error}`, '');
  else if (sc) {
    const rows = [];
    for (const [label, group] of [
      ['1', sc.one],
      ['3', sc.three],
    ]) {
      for (const [id, x] of Object.entries(group ?? {})) {
        if (x.error) {
          rows.push([bold(id), label, '', `failed: ${x.error}`, '', '', '', '', '', '', '', '']);
          continue;
        }
        for (const step of x.steps) {
          const peer = group[PEER[id]]?.steps?.find((p) => p.sessions === step.sessions);
          rows.push([
            bold(id),
            label,
            step.sessions.toLocaleString('en'),
            kib(step.heapPerSession),
            kib(step.rssPerSession),
            label === '3' ? kib(step.redisPerSession) : '–',
            `${Number.isFinite(step.broadcastAll) ? ms(step.broadcastAll) : '> 60 s'}${step.incomplete?.length ? ` (${step.incomplete.length} of ${n.broadcasts} reached only ${step.incomplete.join(', ')} within 60 s)` : ''}${step.clientCloses ? `; ${step.clientCloses} client disconnects meanwhile` : ''}`,
            ms(step.broadcastP50),
            ms(step.broadcastReturned),
            step.redisPerBroadcast
              ? `${fmt(step.redisPerBroadcast.calls, 1)} (${fmt(step.redisPerBroadcast.scripts, 1)} scripts), ${fmt(step.redisPerBroadcast.cpuUs, 1)} µs`
              : '–',
            peer ? x2(step.heapPerSession, peer.heapPerSession) : '',
            peer ? x2(step.broadcastAll, peer.broadcastAll) : '',
          ]);
        }
      }
    }
    out.push(
      `**Many idle sessions**: Node clients over loopback, straight to the nodes (no nginx; spread evenly), in ${n.procs} client processes; ${WARM} warm-up sessions first, then up to each count. Memory per session: growth of the nodes' JS heap (after two forced GCs) and RSS from the warm-up to that count, divided by the count (summed over the nodes), and of Redis's used_memory. Broadcast: one message to every session from node 0 (ours \`rt.broadcast\`, socket.io \`io.emit\`), median of ${n.broadcasts}: until the last client had it, until half had it, and until the call returned; for ours on 3 nodes, what Redis did for it per session (commands, those inside scripts included, and CPU). Ratios: ours ÷ socket.io on the same layout and count (websocket ÷ websocket, long-poll ÷ polling; below 1 = ours uses less or is faster).`,
      '',
      table(
        [
          'client',
          'nodes',
          'sessions',
          'heap / session',
          'RSS / session',
          'Redis / session',
          'broadcast: all',
          'half',
          'call returned',
          'Redis per broadcast and session',
          'heap ÷ socket.io',
          'broadcast ÷ socket.io',
        ],
        rows,
      ),
      '',
    );
  }
  return out.join('\n').trim();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main(process.argv[2]);
  process.exit(0);
}
