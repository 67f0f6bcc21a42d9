// Demo server: the pages in demo/, the built library, the reference RealtimeServer at
// /realtime and the /api/status endpoint for the polling comparison. `npm run demo`.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RealtimeServer } from '../dist/server.js';
import { attachChat } from './chat-server.mjs';
import { attachDashboard } from './dashboard-server.mjs';
import { createStatusApi } from './status-api.mjs';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
// URL prefix → folder. Nothing else in the repository is reachable.
const MOUNTS = [
  ['/dist/', join(root, 'dist')],
  ['/node_modules/eventsource-parser/dist/', join(root, 'node_modules/eventsource-parser/dist')],
  ['/', join(root, 'demo')],
];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};
const CSP =
  "default-src 'self'; script-src 'self'; connect-src 'self' ws: wss:; style-src 'self'; img-src 'self' data:";

/** Server-side code is not for the browser, even though it lives in demo/. */
const PRIVATE = /\.(mjs|cjs|ts)$/;

/** Adds the hash of each inline import map to script-src, so that page alone may run it. */
function cspFor(html) {
  const hashes = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
    (m) => `'sha256-${createHash('sha256').update(m[1]).digest('base64')}'`,
  );
  return hashes.length ? CSP.replace("script-src 'self'", `script-src 'self' ${hashes.join(' ')}`) : CSP;
}

/** Resolves a URL path inside one of the mounts, or null when it would escape it. */
function fileFor(pathname) {
  let decoded;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  if (decoded === '/') decoded = '/index.html';
  for (const [prefix, dir] of MOUNTS) {
    if (!decoded.startsWith(prefix)) continue;
    const file = resolve(dir, '.' + decoded.slice(prefix.length - 1));
    return file.startsWith(dir + sep) ? file : null;
  }
  return null;
}

async function serveStatic(req, res, pathname) {
  const file = fileFor(pathname);
  const type = file && !PRIVATE.test(file) && TYPES[extname(file)];
  let body;
  try {
    if (type) body = await readFile(file);
  } catch {
    // Missing or unreadable: answered 404 below.
  }
  if (!body) return send(res, 404, 'text/plain; charset=utf-8', 'Not found\n');
  const headers = { 'Cache-Control': 'no-store' };
  if (type.startsWith('text/html')) headers['Content-Security-Policy'] = cspFor(body.toString('utf8'));
  send(res, 200, type, req.method === 'HEAD' ? '' : body, headers, body.length);
}

function send(res, status, type, body, headers = {}, length = Buffer.byteLength(body)) {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': length,
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': CSP,
    ...headers,
  });
  res.end(body);
}

const statusApi = createStatusApi();

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/realtime') return realtimeRequest(req, res, url);
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return send(res, 405, 'text/plain; charset=utf-8', 'Method not allowed\n', { Allow: 'GET, HEAD' });
  if (url.pathname === '/api/status') return statusApi.handle(req, res, url);
  if (url.pathname === '/favicon.ico') return send(res, 204, 'text/plain', '');
  serveStatic(req, res, url.pathname).catch(() => send(res, 500, 'text/plain; charset=utf-8', 'Server error\n'));
});

/** The HTTP transports (SSE, fetch-stream, long-poll), when this build of the server has them. */
function realtimeRequest(req, res, url) {
  if (inOutage(url.searchParams.get('cid'))) return send(res, 503, 'text/plain; charset=utf-8', 'Simulated outage\n');
  if (typeof rt?.handleRequest === 'function' && rt.handleRequest(req, res)) return;
  send(res, 404, 'text/plain; charset=utf-8', 'This build of the server has no HTTP transports yet\n');
}

/**
 * Simulated outages, by the `cid` a page puts in its /realtime URL: until the time passes, that
 * page's connection attempts are refused at the HTTP level, as a dead network would refuse them.
 */
const outages = new Map();
const inOutage = (cid) => cid && (outages.get(cid) ?? 0) > Date.now();

let rt;
const port = await listen(Number(process.env.PORT) || 8080);
const origins = [`http://localhost:${port}`, `http://127.0.0.1:${port}`, `http://[::1]:${port}`];
rt = new RealtimeServer({ path: '/realtime', allowedOrigins: origins, heartbeatInterval: 10_000 });
rt.on('error', (err) => console.error('[realtime]', err));

server.on('upgrade', (req, socket, head) => {
  const cid = new URL(req.url ?? '/', 'http://localhost').searchParams.get('cid');
  if (inOutage(cid))
    return socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  if (!rt.handleUpgrade(req, socket, head)) socket.destroy();
});

attachChat(rt);
attachDashboard(rt);
// Both pages may ask for a dropped connection or an outage of their own session.
rt.on('connection', (session) => {
  session.on('message', (msg) => {
    if (msg?.type === 'drop') session.disconnect();
    else if (msg?.type === 'outage' && typeof msg.cid === 'string') {
      const seconds = Math.min(Math.max(Number(msg.seconds) || 5, 1), 60);
      for (const [cid, until] of outages) if (until < Date.now()) outages.delete(cid);
      outages.set(msg.cid, Date.now() + seconds * 1000);
      session.disconnect();
    }
  });
});

console.log(`Demo running at http://localhost:${port}/`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) process.exit(1); // a second Ctrl-C does not wait
    stopping = true;
    console.log('\nShutting down…');
    statusApi.close();
    server.close();
    await rt.close();
    server.closeAllConnections();
    process.exit(0);
  });
}

/** Listens on `first`, or the next free port after it. */
function listen(first) {
  return new Promise((resolvePort, reject) => {
    let port = first;
    const retry = (err) => {
      if (err.code !== 'EADDRINUSE' || port >= first + 20) return reject(err);
      console.log(`Port ${port} is busy, trying ${port + 1}`);
      server.listen(++port);
    };
    server.on('error', retry);
    server.once('listening', () => {
      server.off('error', retry);
      resolvePort(port);
    });
    server.listen(port);
  });
}
