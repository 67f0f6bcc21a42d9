// Where a throughput burst's time goes: one page per client, bursts in turn (as `npm run bench`
// does), then one more burst of the first client with CPU profiles of both ends: busy vs idle time
// of the page and of the server, and each end's self time by function (top 20).
//   npm run build && node bench/profile-throughput.mjs [down|up] [clients=ours/long-poll,native-es,sio/polling] [n=30000] [size=1024] [reps=3]
// Clients: ours/<transport>, native-ws, native-es, sio/websocket, sio/polling.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchPage, ServerProcess, launchBrowser, sleep } from './lib/harness.mjs';

const [
  direction = 'down',
  clientsArg = 'ours/long-poll,native-es,sio/polling',
  nArg = '30000',
  sizeArg = '1024',
  repsArg = '3',
] = process.argv.slice(2);
const [n, size, reps] = [Number(nArg), Number(sizeArg), Number(repsArg)];
const big = { queue: { maxMessages: 200_000, maxBytes: 1 << 30 } };
const configOf = (id) => {
  const [lib, transport] = id.split('/');
  if (lib === 'ours')
    return { kind: 'ours', params: { transport, path: '/realtime', opts: direction === 'up' ? big : {} } };
  if (lib === 'sio') return { kind: 'socketio', params: { transport } };
  return { kind: id === 'native-ws' ? 'native-ws' : 'native-sse', params: {} };
};
const ids = clientsArg.split(',');
const dir = mkdtempSync(join(tmpdir(), 'throughput-profile-'));
const server = new ServerProcess(['--cpu-prof', `--cpu-prof-dir=${dir}`]);
await server.start();
const browser = await launchBrowser();
const call = direction === 'down' ? ([k, s]) => window.H.push(k, s, 180000) : ([k, s]) => window.H.up(k, s, 180000);
const pages = [];
const times = Object.fromEntries(ids.map((id) => [id, []]));
let profile;
try {
  for (const id of ids) {
    const cfg = configOf(id);
    const p = await BenchPage.open(browser, server, cfg.kind, cfg.params);
    await p.start();
    pages.push([id, p]);
  }
  for (const [, p] of pages) await p.eval(call, [Math.ceil(n / 10), size]);
  for (let k = 0; k < reps; k++)
    for (const [id, p] of pages) {
      times[id].push((await p.eval(call, [n, size])).ms);
      await sleep(200);
    }
  const [, first] = pages[0];
  await first.page.send('Profiler.enable');
  await first.page.send('Profiler.setSamplingInterval', { interval: 100 });
  await first.page.send('Profiler.start');
  times.profiled = (await first.eval(call, [n, size])).ms;
  ({ profile } = await first.page.send('Profiler.stop'));
} finally {
  for (const [, p] of pages) await p.close();
  await browser.close();
  await server.exit();
}
writeFileSync(join(dir, 'page.cpuprofile'), JSON.stringify(profile));
const serverFile = readdirSync(dir).find((f) => f.startsWith('CPU') && f.endsWith('.cpuprofile'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`${direction} ${n} × ${size} B, ${reps} rounds in turn:`);
for (const id of ids)
  console.log(
    `  ${id.padEnd(18)} median ${median(times[id]).toFixed(0).padStart(6)} ms   runs ${times[id].map((x) => x.toFixed(0)).join(', ')}`,
  );
for (const id of ids.slice(1))
  console.log(`  ${ids[0]} ÷ ${id}: ${(median(times[id]) / median(times[ids[0]])).toFixed(2)}× (throughput ratio)`);

/** The minified bundle's names say nothing: show where the function starts in dist/realtime.min.js. */
const minified = readFileSync(new URL('../dist/realtime.min.js', import.meta.url), 'utf8').split('\n');
const snippet = (cf) =>
  cf.url.endsWith('/realtime.min.js')
    ? `  ${JSON.stringify(minified[cf.lineNumber]?.slice(cf.columnNumber, cf.columnNumber + 70))}`
    : '';

/**
 * Self time per function, in ms, of the samples within [from, to] (µs of the profiles' monotonic
 * clock, which Chromium and Node share on Linux), or of all of them.
 */
function selfTimes(prof, from = -Infinity, to = Infinity) {
  const byId = new Map(prof.nodes.map((node) => [node.id, node]));
  const self = new Map();
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t > to) continue;
    const cf = byId.get(prof.samples[i]).callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}${snippet(cf)}`;
    self.set(key, (self.get(key) ?? 0) + dt / 1000);
  }
  return [...self].sort((a, b) => b[1] - a[1]);
}

function show(title, rows) {
  const total = rows.reduce((a, [, ms]) => a + ms, 0);
  const idle = rows.filter(([k]) => /^\((idle|program)\)/.test(k)).reduce((a, [, ms]) => a + ms, 0);
  console.log(
    `\n${title}: ${total.toFixed(0)} ms sampled, ${(total - idle).toFixed(0)} ms busy, ${idle.toFixed(0)} ms idle/program`,
  );
  for (const [k, ms] of rows.slice(0, 20)) console.log(`  ${ms.toFixed(1).padStart(8)} ms  ${k}`);
}

/**
 * Busy share of each `bin` µs of [from, to] (idle and "(program)" samples are not busy). Side by
 * side for both ends, it shows which one waits for the other: pacing, rather than work.
 */
function busyBins(prof, from, to, bin) {
  const byId = new Map(prof.nodes.map((node) => [node.id, node]));
  const bins = new Array(Math.ceil((to - from) / bin)).fill(0);
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t >= to || /^\((idle|program)\)$/.test(byId.get(prof.samples[i]).callFrame.functionName)) continue;
    bins[Math.floor((t - from) / bin)] += dt;
  }
  return bins.map((b) => Math.min(100, Math.round((100 * b) / bin)));
}

console.log(`\nprofiled burst of ${ids[0]}: ${times.profiled.toFixed(0)} ms`);
show('page (Chromium), the profiled burst', selfTimes(profile));
if (serverFile) {
  const prof = JSON.parse(readFileSync(join(dir, serverFile), 'utf8'));
  show('server (node), the same window', selfTimes(prof, profile.startTime, profile.endTime));
}
if (serverFile) {
  const prof = JSON.parse(readFileSync(join(dir, serverFile), 'utf8'));
  const BIN = 25_000;
  const page = busyBins(profile, profile.startTime, profile.endTime, BIN);
  const srv = busyBins(prof, profile.startTime, profile.endTime, BIN);
  console.log(`\nbusy % per ${BIN / 1000} ms, page | server:`);
  const bar = (pct) => '#'.repeat(Math.round(pct / 5)).padEnd(20);
  for (let i = 0; i < page.length; i++)
    console.log(
      `  ${String((i * BIN) / 1000).padStart(5)} ms  ${bar(page[i])} ${String(page[i]).padStart(3)} | ${bar(srv[i])} ${String(srv[i]).padStart(3)}`,
    );
}
console.log(`\nprofiles: ${dir}`);
