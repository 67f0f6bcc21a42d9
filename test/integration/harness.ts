import { createServer, type Server } from 'node:http';
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
  EventSource: EventSource as unknown as typeof globalThis.EventSource,
};

export interface Running {
  http: Server;
  /** Every TCP connection the server accepted, for fault injection. */
  sockets: Set<Socket>;
  rt: RealtimeServer;
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The reference server on a real socket, on port 0 (or on `port`, to restart in place), attached
 * to `options.server` when given (an HTTP server with options of its own), else to a new one.
 */
export async function startServer(options: RealtimeServerOptions = {}, port = 0): Promise<Running> {
  const http = (options.server as Server | undefined) ?? createServer();
  const sockets = new Set<Socket>();
  http.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const rt = new RealtimeServer({ server: http, path: '/realtime', ...options });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, '127.0.0.1', resolve);
  });
  const actual = (http.address() as AddressInfo).port;
  return {
    http,
    sockets,
    rt,
    port: actual,
    url: `ws://127.0.0.1:${actual}/realtime`,
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
    async server(options?: RealtimeServerOptions, port?: number): Promise<Running> {
      const s = await startServer(options, port);
      cleanup.push(() => s.close());
      return s;
    },
    client(url: string, options: ClientOptions = {}): RealtimeClient {
      const c = new RealtimeClient(url, { reconnect: fastReconnect, ...options, env: { ...nodeEnv, ...options.env } });
      cleanup.push(() => c.close());
      return c;
    },
  };
}
