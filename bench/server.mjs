// The one server process of `npm run bench` (started, restarted and blackholed by bench/run.mjs
// through fork()'s IPC channel; it also runs alone: `PORT=8090 node bench/server.mjs`).
// On one node:http server and port:
//   /realtime           our RealtimeServer, default heartbeat (25 s)
//   /realtime-fast      our RealtimeServer, heartbeatInterval FAST_HB ms (the short-settings liveness run)
//   /realtime-greet     our RealtimeServer, defaults, sending {hello} to each new session (time to first message)
//   /socket.io/         socket.io 4, defaults
//   /socket.io-fast/    socket.io 4, pingInterval FAST_HB, pingTimeout FAST_SIO_TIMEOUT (short-settings run)
//   /socket.io-greet/   socket.io 4, defaults, emitting {hello} to each new socket (time to first message)
//   /ws                 raw `ws` WebSocketServer: the native-WebSocket baseline, one frame per message
//   /sse, /sse-ctl      raw SSE: the native-EventSource baseline, one event per message; control by POST
//   /bench/pages/, /dist/, socket.io-client's and eventsource-parser's dist: static files
// Every endpoint speaks the same tiny application protocol (bench/lib/app.mjs): push, up, echo,
// and drop (the server drops the connection abruptly; the client should reconnect).
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { Server as SocketIoServer } from 'socket.io';
import { RealtimeServer } from 'realtime-client/server';
import { benchApp } from './lib/app.mjs';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const PORT = Number(process.env.PORT ?? 0);
export const FAST_HB = Number(process.env.FAST_HB ?? 2000);
const FAST_SIO_TIMEOUT = Number(process.env.FAST_SIO_TIMEOUT ?? 1000);

const STATIC = [
  '/bench/pages/',
  '/dist/',
  '/node_modules/socket.io-client/dist/',
  '/node_modules/eventsource-parser/dist/',
];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
};

function serveStatic(req, res) {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/favicon.ico') return void res.writeHead(204).end();
  if (!STATIC.some((p) => url.pathname.startsWith(p)) || url.pathname.includes('..'))
    return void res.writeHead(404).end('not found');
  const file = resolve(root, `.${decodeURIComponent(url.pathname)}`);
  if (!file.startsWith(root + sep)) return void res.writeHead(404).end();
  let size;
  try {
    size = statSync(file).size;
  } catch {
    return void res.writeHead(404).end('not found');
  }
  const headers = {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': size,
    'cache-control': 'no-store',
  };
  // Cross-origin isolation gives the pages performance.now() at 5 µs instead of 100 µs resolution.
  if (file.endsWith('.html'))
    Object.assign(headers, {
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
  res.writeHead(200, headers);
  createReadStream(file).pipe(res);
}

// ---- native SSE baseline -----------------------------------------------------------------
const sseStreams = new Map();

function sse(req, res) {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/sse' && req.method === 'GET') {
    const id = url.searchParams.get('id');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.socket.setNoDelay(true);
    res.write(':ok\n\n');
    const onMessage = benchApp({
      send: (obj) => res.write(`data: ${JSON.stringify(obj)}\n\n`),
      drop: () => res.destroy(),
    });
    sseStreams.set(id, onMessage);
    res.on('close', () => sseStreams.get(id) === onMessage && sseStreams.delete(id));
    return true;
  }
  if (url.pathname === '/sse-ctl' && req.method === 'POST') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const onMessage = sseStreams.get(url.searchParams.get('id'));
      res.writeHead(onMessage ? 204 : 404).end();
      onMessage?.(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    });
    return true;
  }
  return false;
}

// ---- the server ----------------------------------------------------------------------------
const http = createServer((req, res) => {
  if (!sse(req, res)) serveStatic(req, res);
});

// Every TCP socket, so `blackhole` can silence them.
const sockets = new Set();
http.on('connection', (socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
});

// socket.io: defaults, except that it must not end upgrade requests that belong to the others.
// On the -greet paths the server sends {hello} as soon as a connection is there (the first message).
for (const [path, extra, greet] of [
  ['/socket.io', {}],
  ['/socket.io-fast', { pingInterval: FAST_HB, pingTimeout: FAST_SIO_TIMEOUT }],
  ['/socket.io-greet', {}, true],
]) {
  const io = new SocketIoServer(http, { path, serveClient: false, destroyUpgrade: false, ...extra });
  io.on('connection', (socket) => {
    const onMessage = benchApp({ send: (obj) => socket.emit('m', obj), drop: () => socket.conn.close() });
    socket.on('m', onMessage);
    if (greet) socket.emit('m', { hello: true });
  });
}

// Ours. Generous limits so one page can burst 100,000 messages and the many short-lived
// sessions of a run (127.0.0.1 only) are not refused; everything else is default.
// BENCH_RT_OPTIONS (JSON) overrides them, to try a setting when diagnosing (e.g. {"backpressureThreshold": 8388608}).
const ourOptions = {
  maxSessionsPerIp: 1_000_000,
  sessionTtl: 30_000,
  replay: { maxMessages: 1_000_000, maxBytes: 512 * 1024 * 1024 },
  ...JSON.parse(process.env.BENCH_RT_OPTIONS || '{}'),
};
/** Our servers, by path: `stats` counts their sessions. */
const ourServers = new Map();
for (const [path, extra, greet] of [
  ['/realtime', {}],
  ['/realtime-fast', { heartbeatInterval: FAST_HB }],
  ['/realtime-greet', {}, true],
]) {
  const rt = new RealtimeServer({ server: http, path, ...ourOptions, ...extra });
  ourServers.set(path, rt);
  rt.on('error', (err) => console.error(`[bench server] ${path}:`, err));
  rt.on('connection', (session) => {
    session.on('message', benchApp({ send: (obj) => session.send(obj), drop: () => session.disconnect() }));
    if (greet) session.send({ hello: true });
  });
}

// The native-WebSocket baseline.
const wss = new WebSocketServer({ noServer: true });
wss.on('connection', (ws) => {
  const onMessage = benchApp({ send: (obj) => ws.send(JSON.stringify(obj)), drop: () => ws.terminate() });
  ws.on('message', (data) => onMessage(JSON.parse(data.toString())));
  ws.on('error', () => {});
});
http.on('upgrade', (req, socket, head) => {
  if (new URL(req.url, 'http://x').pathname === '/ws')
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

/**
 * A connection that goes silent without closing: from now on nothing is written to the sockets
 * open at this moment, and they are never closed (as when a NAT or a cable drops packets).
 * New connections are not affected.
 */
function blackhole() {
  let n = 0;
  for (const socket of sockets) {
    socket.write = () => true;
    socket.end = () => socket;
    socket.destroy = () => socket;
    socket.destroySoon = () => {};
    socket.setTimeout = () => socket;
    n++;
  }
  sockets.clear();
  return n;
}

process.on('message', (msg) => {
  if (msg?.cmd === 'blackhole')
    process.send({ reply: msg.id, sockets: blackhole(), t: performance.timeOrigin + performance.now() });
  else if (msg?.cmd === 'memory') process.send({ reply: msg.id, ...process.memoryUsage() });
  else if (msg?.cmd === 'stats') {
    // After a full GC when the process runs with --expose-gc: the heap the live sessions hold.
    globalThis.gc?.();
    const sessions = ourServers.get('/realtime').sessions.size;
    process.send({ reply: msg.id, sockets: sockets.size, sessions, heapUsed: process.memoryUsage().heapUsed });
  } else if (msg?.cmd === 'exit') process.exit(0); // a clean exit, e.g. for node --cpu-prof
});

http.listen(PORT, '127.0.0.1', () => {
  const { port } = http.address();
  const info = { listening: true, port, t: performance.timeOrigin + performance.now() };
  if (process.send) process.send(info);
  else console.log(`bench server on http://127.0.0.1:${port}/bench/pages/`);
});
