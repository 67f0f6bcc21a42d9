// A tiny static file server for the browser tests, on 127.0.0.1 and a free port.
// It serves a few folders of the repo and can share its http.Server with the reference
// RealtimeServer (`new RealtimeServer({ server, path: '/realtime' })`): requests under
// `passthrough` paths (default: /realtime) are left alone for the other listeners.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { extname, isAbsolute, relative, resolve, sep } from 'node:path';

export interface StaticServerOptions {
  /** Repository root that URL paths are resolved against. */
  root: string;
  /** Folders (relative to root) that may be served. */
  allow?: string[];
  /** Extra handler, tried before the static files; return true if it answered the request. */
  routes?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;
  /** 'upgrade' listener, for a WebSocket endpoint not attached by other means. */
  upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Path prefixes this server must not answer (other 'request' listeners own them). */
  passthrough?: string[];
  /**
   * Content-Security-Policy for HTML pages. `true` gives a strict policy: only same-origin
   * scripts, plus inline scripts that are in the page file itself (by sha256 hash, e.g. an
   * import map), and connections to this origin only (http and ws).
   */
  csp?: boolean | string;
  /**
   * Cache-Control of HTML pages (default 'no-store'). Chromium keeps no-store pages that used a
   * WebSocket out of the back/forward cache, so bfcache tests serve pages with e.g. 'no-cache'.
   */
  htmlCacheControl?: string;
}

export interface StaticServer {
  /** http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  /** ws://127.0.0.1:PORT */
  wsOrigin: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

export const DEFAULT_ALLOW = ['dist', 'demo', 'test/browser/pages', 'node_modules/eventsource-parser/dist'];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
};

/** sha256 CSP sources for each inline (src-less) <script> in an HTML page. */
export function inlineScriptHashes(html: string): string[] {
  const hashes: string[] = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)) {
    if (/\bsrc\s*=/i.test(m[1] ?? '')) continue;
    const body = m[2] ?? '';
    hashes.push(`'sha256-${createHash('sha256').update(body, 'utf8').digest('base64')}'`);
  }
  return hashes;
}

function strictCsp(origin: string, html: string): string {
  const host = origin.replace(/^http:\/\//, '');
  const scripts = ["'self'", ...inlineScriptHashes(html)].join(' ');
  return [
    "default-src 'none'",
    `script-src ${scripts}`,
    `connect-src 'self' ws://${host}`,
    "style-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export async function serveStatic(options: StaticServerOptions): Promise<StaticServer> {
  const root = resolve(options.root);
  const allow = (options.allow ?? DEFAULT_ALLOW).map((dir) => resolve(root, dir));
  const passthrough = options.passthrough ?? ['/realtime'];
  let origin = '';

  const isAllowed = (file: string) =>
    allow.some((dir) => {
      const rel = relative(dir, file);
      return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
    });

  const send = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(body);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    if (passthrough.some((p) => url.pathname === p || url.pathname.startsWith(`${p}/`))) return;
    if (options.routes && (await options.routes(req, res, url))) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed');

    let pathname: string;
    try {
      pathname = decodeURIComponent(url.pathname);
    } catch {
      return send(res, 400, 'bad path');
    }
    if (pathname.includes('\0')) return send(res, 400, 'bad path');
    let file = resolve(root, `.${pathname}`);
    if (!file.startsWith(root + sep) || !isAllowed(file)) return send(res, 404, `not found: ${pathname}`);
    let stat;
    try {
      stat = statSync(file);
      if (stat.isDirectory()) {
        file = resolve(file, 'index.html');
        stat = statSync(file);
      }
    } catch {
      return send(res, 404, `not found: ${pathname}`);
    }
    const type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    const headers: Record<string, string | number> = {
      'content-type': type,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    };
    if (type.startsWith('text/html')) {
      const html = readFileSync(file, 'utf8');
      if (options.htmlCacheControl) headers['cache-control'] = options.htmlCacheControl;
      if (options.csp) {
        headers['content-security-policy'] = typeof options.csp === 'string' ? options.csp : strictCsp(origin, html);
      }
      headers['content-length'] = Buffer.byteLength(html);
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : html);
      return;
    }
    headers['content-length'] = stat.size;
    res.writeHead(200, headers);
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, String(err instanceof Error ? err.stack : err));
      else res.destroy();
    });
  });
  if (options.upgrade) server.on('upgrade', options.upgrade);

  // Track every socket, including upgraded (WebSocket) ones, so close() never hangs.
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;

  return {
    url: origin,
    wsOrigin: `ws://127.0.0.1:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolveClose) => {
        for (const socket of sockets) socket.destroy();
        if (!server.listening) return resolveClose();
        server.close(() => resolveClose());
      }),
  };
}
