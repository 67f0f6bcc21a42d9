import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { EventSource } from 'eventsource';
import { WebSocket } from 'ws';
import { RealtimeServer, type RealtimeServerOptions } from '../../src/server/index';
import type { ClientOptions } from '../../src/index';
import type { Env } from '../../src/env';

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

/** The reference server on a real socket, on port 0 (or on `port`, to restart in place). */
export async function startServer(options: RealtimeServerOptions = {}, port = 0): Promise<Running> {
  const http = createServer();
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

/** Waits until `cond()` is truthy, polling; fails with `what` after `ms`. */
export async function waitFor<T>(cond: () => T, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const fastReconnect: ClientOptions['reconnect'] = { initialDelay: 20, maxDelay: 200 };

export { seeded } from '../seeded';
