// Where an echo's time goes: CPU profiles of both ends while one page does sequential echoes.
//   npm run build && node bench/profile-rtt.mjs [transport=websocket] [echoes=20000] [lib=ours|native-ws|socketio]
// The page's profile comes from CDP (Profiler domain), the server's from node --cpu-prof. Prints
// each end's self time by function (top 25), and the echoes' p50, so that a change can be
// weighed by what it removes per echo. Profiles are written to a temporary folder for DevTools.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchPage, ServerProcess, launchBrowser } from './lib/harness.mjs';
import { percentile } from './lib/report.mjs';

const [transport = 'websocket', echoesArg = '20000', lib = 'ours'] = process.argv.slice(2);
const echoes = Number(echoesArg);
const dir = mkdtempSync(join(tmpdir(), 'rtt-profile-'));
const server = new ServerProcess(['--cpu-prof', `--cpu-prof-dir=${dir}`]);
await server.start();
const browser = await launchBrowser();
const params = lib === 'socketio' ? { transport, path: '/socket.io' } : { transport };
const p = await BenchPage.open(browser, server, lib, params);
let times;
let profile;
try {
  await p.start();
  await p.eval(([m, warm]) => window.H.rtt(m, 100, warm), [0, 1000]);
  await p.page.send('Profiler.enable');
  await p.page.send('Profiler.setSamplingInterval', { interval: 100 });
  await p.page.send('Profiler.start');
  times = await p.eval((m) => window.H.rtt(m, 100, 0, 600000), echoes);
  ({ profile } = await p.page.send('Profiler.stop'));
} finally {
  await p.close();
  await browser.close();
  await server.exit();
}
writeFileSync(join(dir, 'page.cpuprofile'), JSON.stringify(profile));
const serverProfile = readdirSync(dir).find((f) => f.startsWith('CPU') && f.endsWith('.cpuprofile'));

/** Self time per function (name, file, line), in ms, from a .cpuprofile. */
function selfTimes(prof) {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const deltas = prof.timeDeltas;
  for (let i = 0; i < prof.samples.length; i++) {
    const n = byId.get(prof.samples[i]);
    const cf = n.callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (deltas[i] ?? 0) / 1000);
  }
  return [...self].sort((a, b) => b[1] - a[1]);
}

function show(title, prof) {
  const rows = selfTimes(prof);
  const total = rows.reduce((a, [, ms]) => a + ms, 0);
  const idle = rows.filter(([k]) => /^\((idle|program|garbage collector)\)/.test(k)).reduce((a, [, ms]) => a + ms, 0);
  console.log(
    `\n${title}: ${total.toFixed(0)} ms sampled, ${(total - idle).toFixed(0)} ms busy (${(((total - idle) / echoes) * 1000).toFixed(1)} µs per echo)`,
  );
  for (const [k, ms] of rows.slice(0, 25))
    console.log(`  ${ms.toFixed(1).padStart(8)} ms  ${((ms / echoes) * 1000).toFixed(2).padStart(6)} µs/echo  ${k}`);
}

console.log(
  `${lib}/${transport}: ${echoes} echoes, p50 ${percentile(times, 50).toFixed(3)} ms, p99 ${percentile(times, 99).toFixed(3)} ms`,
);
show('page (Chromium)', profile);
if (serverProfile) show('server (node)', JSON.parse(readFileSync(join(dir, serverProfile), 'utf8')));
console.log(`\nprofiles: ${dir}`);
