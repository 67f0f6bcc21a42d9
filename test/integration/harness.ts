import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { EventSource } from 'eventsource';
import { WebSocket } from 'ws';
import { RealtimeServer, type RealtimeServerOptions } from '../../src/server/index';
import { afterEach } from 'vitest';
import { RealtimeClient, type ClientOptions } from '../../src/index';
import type { Env } from '../../src/client/env';

/** Node 20 has neither WebSocket nor EventSource; `ws` and `eventsource` implement the browser APIs. */
export const nodeEnv: Partial<Env> = {
  WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  EventSource: EventSource,
};

export interface Running {
  http: Server;
  /** Every TCP connection the server accepted, for fault injection. */
  sockets: Set<Socket>;
  rt: RealtimeServer;
  /** The WebSocket URL of the endpoint: ws://127.0.0.1:<port>/realtime. */
  url: string;
  /** The same endpoint over HTTP, for the HTTP transports: http://127.0.0.1:<port>/realtime. */
  base: string;
  /** http://127.0.0.1:<port>, for the app's own paths. */
  origin: string;
  port: number;
  close(): Promise<void>;
}

export interface StartOptions {
  /** The port to listen on: 0 for a free one, or the port of a server that went away, to restart in place. @default 0 */
  port?: number;
  /** The application beside the endpoint: answers the requests the RealtimeServer leaves alone. @default none */
  app?: RequestListener;
  /** Runs right after the RealtimeServer is constructed, before the server listens ('restore' comes on the next tick). */
  setup?: (rt: RealtimeServer) => void;
}

/**
 * The reference server on a real socket, at /realtime, attached to `options.server` when given (an
 * HTTP server with options of its own), else to a new HTTP server with `start.app` as its handler.
 */
export async function startServer(options: RealtimeServerOptions = {}, start: StartOptions = {}): Promise<Running> {
  const http = options.server ?? createServer(start.app);
  const sockets = new Set<Socket>();
  http.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const rt = new RealtimeServer({ server: http, path: '/realtime', ...options });
  start.setup?.(rt);
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(start.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (http.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    http,
    sockets,
    rt,
    port,
    origin,
    base: `${origin}/realtime`,
    url: `ws://127.0.0.1:${port}/realtime`,
    async close() {
      await rt.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

export const fastReconnect: ClientOptions['reconnect'] = { initialDelay: 20, maxDelay: 200 };

export { seeded } from '../seeded';

/**
 * Per-test servers and clients, all closed after each test: `server()` starts the reference
 * server, `client()` connects with Node's WebSocket and EventSource and fast reconnects (each
 * overridable), `defer()` adds any other cleanup.
 */
export function testScope() {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()!();
  });
  return {
    defer: (fn: () => unknown) => void cleanup.push(fn),
    // Arrow functions: tests destructure them (`const { server, client } = testScope()`).
    server: async (options?: RealtimeServerOptions, start?: StartOptions): Promise<Running> => {
      const s = await startServer(options, start);
      cleanup.push(() => s.close());
      return s;
    },
    client: (url: string, options: ClientOptions = {}): RealtimeClient => {
      const c = new RealtimeClient(url, { reconnect: fastReconnect, ...options, env: { ...nodeEnv, ...options.env } });
      cleanup.push(() => c.close());
      return c;
    },
  };
}
