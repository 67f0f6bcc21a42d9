// The reference server under attack, in a process of its own so that its memory and its event
// loop are measured apart from the attacking test (test/integration/attack.test.ts):
//   node --expose-gc --max-old-space-size=256 attack-target.mjs '<RealtimeServerOptions as JSON>'
// Started with child_process.fork(); it talks to the test over IPC only.
//
// It runs the built server, dist/server.js (`npm run build`). ATTACK_SERVER_MODULE=<path or URL of
// another build's server.js> runs the suite against that build instead (e.g. an older commit's).
//
// Listens on 127.0.0.1, port 0, and sends { ev: 'listening', port }. Then it answers requests
// { id, cmd, ...args } with { id, result } (or { id, error }):
//   heap             gc() twice, then process.memoryUsage()
//   delayReset       resets the event-loop delay measures; answered 30 ms later, once they are
//                    counting again (a reset monitorEventLoopDelay histogram records nothing until
//                    its timer has ticked once)
//   delayMax         since the last reset, in ms: { eld, cpu }. eld: monitorEventLoopDelay's max
//                    (resolution 10 ms), the longest timer interval: 10 when the loop never
//                    stalls, 10 + the stall otherwise. cpu: the same in CPU time (see `stall`)
//   sessions         { count, connected }
//   send             { count, bytes }: every live session gets `count` distinct strings of about
//                    `bytes` characters each (session.send, one per message, in one turn);
//                    result: how many session.send() calls were made
//   unacked          { sid }: the session's unacknowledged count, or null when it is gone
//   delivered        { sid? }: per session, what the app received: { count, lastSeq, bad, marker }
//   closes           every session close seen: [{ sid, code, reason }]
//   links            for the figures only (internals, undefined if renamed): Link objects the
//                    server holds, and HTTP links registered by id
// Unprompted, it sends { ev: 'close', sid, code, reason } when a session ends.
//
// The app: each message (data, seq) is recorded; a string data must start with `${seq}:`
// (so order and integrity are checked without keeping the data), and the string 'end' marks
// the end of an attack (recorded as `marker`, without breaking the count).
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const target = process.env.ATTACK_SERVER_MODULE;
const moduleUrl = target
  ? /^[a-z]+:/i.test(target)
    ? target
    : pathToFileURL(target).href
  : new URL('../../dist/server.js', import.meta.url).href;
const { RealtimeServer } = await import(moduleUrl);

const options = JSON.parse(process.argv[2] ?? '{}');
const send = (msg) => process.send?.(msg);

const http = createServer((_req, res) => res.writeHead(404).end());
const rt = new RealtimeServer({ server: http, path: '/realtime', ...options });
rt.on('error', (err) => process.stderr.write(`[attack-target] server error: ${err?.stack ?? err}\n`));

/** What the app received, per session id. */
const delivered = new Map();
const closes = [];
rt.on('connection', (session) => {
  const rec = { count: 0, lastSeq: 0, bad: 0, marker: false };
  delivered.set(session.id, rec);
  session.on('message', (data, seq) => {
    if (data === 'end') rec.marker = true;
    else {
      rec.count++;
      if (seq !== rec.lastSeq + 1 || typeof data !== 'string' || !data.startsWith(`${seq}:`)) rec.bad++;
    }
    rec.lastSeq = seq;
  });
  session.on('close', (code, reason) => {
    const c = { sid: session.id, code, reason };
    closes.push(c);
    send({ ev: 'close', ...c });
  });
});

const eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();

/**
 * The same measure in CPU time: a 10 ms timer, and for each of its intervals the CPU time the
 * process used in it (at most the interval's length). On an idle machine the longest interval
 * is the longest monitorEventLoopDelay sees; on a busy one (other test files run in parallel on
 * two cores) the wall-clock delay also counts the time other processes had the CPU, this does not.
 */
const stall = {
  max: 0,
  wall: performance.now(),
  cpu: process.cpuUsage(),
  reset() {
    this.max = 0;
    this.wall = performance.now();
    this.cpu = process.cpuUsage();
  },
};
setInterval(() => {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  const used = (cpu.user - stall.cpu.user + cpu.system - stall.cpu.system) / 1000;
  stall.max = Math.max(stall.max, Math.min(used, wall - stall.wall));
  stall.wall = wall;
  stall.cpu = cpu;
}, 10).unref();

const tick = () => new Promise((resolve) => setImmediate(resolve));
let sent = 0;

const commands = {
  async heap() {
    globalThis.gc();
    await tick();
    globalThis.gc();
    return process.memoryUsage();
  },
  async delayReset() {
    eld.reset();
    stall.reset();
    await new Promise((resolve) => setTimeout(resolve, 30));
  },
  delayMax() {
    return { eld: eld.max / 1e6, cpu: stall.max };
  },
  sessions() {
    let connected = 0;
    for (const s of rt.sessions.values()) if (s.connected) connected++;
    return { count: rt.sessions.size, connected };
  },
  send({ count, bytes }) {
    let calls = 0;
    const pad = 'x'.repeat(Math.max(0, bytes - 24));
    for (const session of [...rt.sessions.values()]) {
      for (let i = 0; i < count && !session.closed; i++) {
        // A distinct string per call (session.send serialises each one anew anyway).
        session.send(`${++sent}:${session.id}:${pad}`);
        calls++;
      }
    }
    return calls;
  },
  unacked({ sid }) {
    const s = rt.sessions.get(sid);
    return s ? s.unacknowledged : null;
  },
  delivered({ sid }) {
    return sid ? (delivered.get(sid) ?? null) : Object.fromEntries(delivered);
  },
  closes() {
    return closes;
  },
  links() {
    return { links: rt.links?.size, httpLinks: rt.http?.links?.size };
  },
};

process.on('message', async ({ id, cmd, ...args }) => {
  try {
    send({ id, result: await commands[cmd](args) });
  } catch (err) {
    send({ id, error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));

http.listen(0, '127.0.0.1', () => send({ ev: 'listening', port: http.address().port }));
