// One node of the cluster section of `npm run bench` (bench/cluster.mjs), started by
// test/services/node-processes.ts (it prints {"ev":"listening","port"} when ready). On one
// node:http server and port:
//   /realtime     our RealtimeServer: sessions in this process's memory, or in Redis (REDIS_URL)
//   /socket.io/   socket.io 4 with connection state recovery; with REDIS_URL, the
//                 @socket.io/redis-streams-adapter on the same Redis
//   /ctl/...      the benchmark's controls (below)
// Both speak the tiny application protocol of bench/lib/app.mjs: {ctl:'push', n, size},
// {ctl:'up', n}, {echo}, {ctl:'where'}. Environment: REDIS_URL (none: one node, memory), NODE_NAME.
//
// Controls (plain HTTP, from bench/cluster.mjs):
//   GET  /ctl/mem                 two forced GCs (node --expose-gc), then process.memoryUsage()
//                                 and how many sessions / sockets this node holds
//   POST /ctl/broadcast?lib=ours|sio&id=K   one message {b: K} to every session (ours:
//                                 rt.broadcast; socket.io: io.emit); answers when the call returned
//   POST /ctl/ticker?ms=M&lib=...  from now on, {tick: n} to everyone every M ms (0 stops it)
//   POST /ctl/profile             starts the CPU profiler (node:inspector, 100 µs sampling);
//   POST /ctl/profile?stop=1&file=F  stops it and writes the profile to F: to diagnose one
//                                 window of a run (a broadcast, say), not the connections before
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { Session as Inspector } from 'node:inspector';
import { Server as SocketIoServer } from 'socket.io';
import { RealtimeServer } from 'realtime-client/server';
import { benchApp } from '../lib/app.mjs';
import { port, report, reportListening } from '../../test/services/listening.mjs';

const REDIS_URL = process.env.REDIS_URL || '';
const name = process.env.NODE_NAME ?? `pid${process.pid}`;
const now = () => performance.timeOrigin + performance.now();

const http = createServer((req, res) => {
  if (req.url.startsWith('/ctl/')) return void control(req, res);
  res.writeHead(404).end();
});

// ---- ours ---------------------------------------------------------------------------------
let cluster;
if (REDIS_URL) {
  const { redisCluster } = await import('realtime-client/server/redis');
  // BENCH_REDIS_OPTIONS (JSON): ioredis options for the engine's clients, to try one while diagnosing.
  cluster = redisCluster({ url: REDIS_URL, redisOptions: JSON.parse(process.env.BENCH_REDIS_OPTIONS || '{}') });
}
const rt = new RealtimeServer({
  server: http,
  path: '/realtime',
  // Every client comes from 127.0.0.1 (or nginx), and one page bursts up to 100,000 messages.
  maxSessionsPerIp: 1_000_000,
  replay: { maxMessages: 1_000_000, maxBytes: 512 * 1024 * 1024 },
  ...(cluster ? { cluster } : {}),
  ...JSON.parse(process.env.BENCH_RT_OPTIONS || '{}'),
});
rt.on('error', (err) => console.error(`[${name}] realtime:`, err?.message ?? err));
const attach = (session) => session.on('message', benchApp({ send: (obj) => session.send(obj), name }));
rt.on('connection', attach);
rt.on('restore', attach); // a session another node created, resumed here

// ---- socket.io -----------------------------------------------------------------------------
let adapter;
let sioRedis;
if (REDIS_URL) {
  const { createAdapter } = await import('@socket.io/redis-streams-adapter');
  const { Redis } = await import('ioredis');
  sioRedis = new Redis(REDIS_URL);
  adapter = createAdapter(sioRedis);
}
const io = new SocketIoServer(http, {
  path: '/socket.io',
  serveClient: false,
  destroyUpgrade: false,
  // What comes closest to our resume: missed packets kept (in the adapter) for a reconnect.
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000, skipMiddlewares: true },
  ...(adapter ? { adapter } : {}),
});
io.on('connection', (socket) => {
  socket.on('m', benchApp({ send: (obj) => socket.emit('m', obj), name }));
});

// ---- controls ----------------------------------------------------------------------------
let ticker = null;
let inspector = null;

async function control(req, res) {
  const url = new URL(req.url, 'http://x');
  const json = (obj) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
  try {
    if (url.pathname === '/ctl/mem') {
      if (globalThis.gc) {
        globalThis.gc();
        await new Promise((r) => setImmediate(r));
        globalThis.gc();
      }
      return json({ ...process.memoryUsage(), sessions: rt.sessions.size, sockets: io.engine.clientsCount, name });
    }
    if (url.pathname === '/ctl/broadcast') {
      const id = Number(url.searchParams.get('id'));
      const t0 = now();
      let n;
      if (url.searchParams.get('lib') === 'sio') {
        io.emit('m', { b: id });
        n = io.engine.clientsCount;
      } else n = await rt.broadcast({ b: id });
      return json({ t0, returned: now() - t0, n });
    }
    if (url.pathname === '/ctl/ticker') {
      const ms = Number(url.searchParams.get('ms'));
      const lib = url.searchParams.get('lib');
      if (ticker) clearInterval(ticker);
      ticker = null;
      let n = 0;
      if (ms > 0)
        ticker = setInterval(() => {
          n++;
          if (lib !== 'sio') void rt.broadcast({ tick: n }).catch(() => {});
          if (lib !== 'ours') io.emit('m', { tick: n });
        }, ms);
      return json({ ok: true });
    }
    if (url.pathname === '/ctl/profile') {
      const post = (method, params) =>
        new Promise((resolve, reject) => inspector.post(method, params, (err, r) => (err ? reject(err) : resolve(r))));
      if (!url.searchParams.get('stop')) {
        inspector ??= new Inspector();
        inspector.connect();
        await post('Profiler.enable');
        await post('Profiler.setSamplingInterval', { interval: 100 });
        await post('Profiler.start');
        return json({ ok: true });
      }
      const { profile } = await post('Profiler.stop');
      inspector.disconnect();
      writeFileSync(url.searchParams.get('file'), JSON.stringify(profile));
      return json({ ok: true });
    }
    res.writeHead(404).end();
  } catch (err) {
    res.writeHead(500).end(String(err?.stack ?? err));
  }
}

http.listen(port, '127.0.0.1', () => reportListening(http, { name, redis: !!REDIS_URL }));
process.on('SIGTERM', () => {
  report({ ev: 'stopping' });
  process.exit(0);
});
