import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { MIN_FRAME_LIMIT, type TransportName } from '../protocol';
import { BODY_LIMIT_FACTOR } from './http/body';
import type { SessionEngine } from './state/types';
import type { SessionStore } from './store';

/**
 * Decides whether a connection may proceed. Receives the client's token, from its `hello` or,
 * over HTTP, from the `Authorization: Bearer` header of the POST carrying that hello (undefined
 * when the client sent none), and the HTTP request that opened the connection.
 * Return a truthy value (it is stored as `session.auth`) to accept; return a falsy value or
 * throw/reject to refuse with close code 4401. Called on every connection, resumes included.
 */
export type Authenticate = (token: string | undefined, request: IncomingMessage) => unknown;

export interface RealtimeServerOptions {
  /**
   * HTTP(S) server whose `upgrade` and `request` events are handled for `path`. Other paths are left
   * to the server's other `request` listeners; when it has none, they get `404` rather than no answer
   * at all (Node's default, which leaves a mistyped URL hanging). Omit it to call `handleUpgrade` /
   * `handleRequest` yourself.
   * @default undefined
   */
  server?: HttpServer | HttpsServer;
  /**
   * URL path served (query string ignored).
   * @default '/realtime'
   */
  path?: string;
  /**
   * Origins allowed to connect: exact origins (`'https://app.example.com'`, compared
   * case-insensitively) or a predicate. Every origin is allowed by default: set this in production.
   * Judges the `Origin` header only when there is one, on every transport: browsers send it with
   * every WebSocket and every cross-origin request, so a request without one comes from a
   * same-origin page or a client that is no browser (Node, a native app), which `authenticate`
   * is there to judge.
   * @default undefined (all allowed)
   */
  allowedOrigins?: readonly string[] | ((origin: string) => boolean);
  /**
   * Send a `ping` after this many ms without sending anything; drop a connection silent for twice as long.
   * @default 25000
   */
  heartbeatInterval?: number;
  /**
   * Largest frame accepted and sent, in bytes of UTF-8 (advertised as `max`). Frames to a client
   * that announced a smaller `max` in its hello are at most that. The client's default
   * `maxFrameSize` is the same.
   * @default 1048576 (1 MiB)
   */
  maxMessageBytes?: number;
  /**
   * Bounds of each session's replay buffer (sent but not yet acknowledged by the client): past
   * either, the oldest messages are dropped and the session can no longer resume.
   * @default { maxMessages: 10000, maxBytes: 8388608 }
   */
  replay?: { maxMessages?: number; maxBytes?: number };
  /**
   * Bound on the replay buffers of all sessions together, in bytes: each message counts its JSON
   * bytes plus 64 for its bookkeeping. When a message would take the total past it, the session
   * holding the most is ended (close 4500 `server replay memory full`; its client gets a new
   * session and a 'session-lost' error), then the next largest, until the message fits. Without
   * it, each address could hold `maxSessionsPerIp` × `replay.maxBytes` and nothing would cap the
   * whole server. Must be at least `maxMessageBytes`.
   * @default 134217728 (128 MiB)
   */
  maxTotalReplayBytes?: number;
  /**
   * Bound on the request bodies the HTTP transports hold, all requests together: those arriving
   * and those read but not yet handled, in bytes. When a chunk would take the total past it, the
   * largest body still arriving is dropped: its request gets 429 with Retry-After, and its link
   * closes with 4429 (the session stays resumable). Honest bodies are small and quick; without
   * this bound, clients trickling 4 MiB bodies held 161 MiB from 20 links. Must be at least
   * 4 × `maxMessageBytes`, one full body.
   * @default 67108864 (64 MiB)
   */
  maxTotalBodyBytes?: number;
  /**
   * How long a session survives without a connection, in ms.
   * @default 120000
   */
  sessionTtl?: number;
  /**
   * Time allowed between connecting and receiving `hello`, in ms.
   * @default 10000
   */
  handshakeTimeout?: number;
  /**
   * Time allowed to receive the body of a request on `path` (a POST of frames, or a poll's own
   * body; not the time a poll is held), in ms. Past it the request gets 408 and the link is
   * dropped (the session stays resumable), so a client trickling a body cannot hold memory and a
   * request slot for Node's 300 s `requestTimeout`.
   * @default 30000
   */
  requestTimeout?: number;
  /**
   * With `server`: lowers that server's `headersTimeout` to this many ms when it is longer
   * (Node's default is 60000). Headers are read before the path is known, so this is the one
   * limit that applies to the whole HTTP server, not only to `path`; it never raises the
   * server's own value. Node checks it every `connectionsCheckingInterval` (30 s by default), so
   * a slow client is cut between this and that much later. `0` leaves the server's value alone.
   * @default 20000
   */
  headersTimeout?: number;
  /**
   * With `server`: an upgrade request for another path gets `400` and is closed, once no other
   * 'upgrade' listener of the server has answered it within this many ms (at once when there is
   * no other listener). A listener that takes upgrades must then answer within that time. Node
   * itself closes upgrades no listener takes only while there is no listener at all, so without
   * this a client aimed at a wrong path would wait for its own timeout. `0` leaves them alone.
   * @default 1000
   */
  foreignUpgradeTimeout?: number;
  /**
   * Authentication hook, sync or async.
   * @default undefined (every client is accepted)
   */
  authenticate?: Authenticate;
  /**
   * Sessions (connected or awaiting resume) allowed per client address; also bounds the
   * connections from one address still waiting for `hello`.
   * @default 100
   */
  maxSessionsPerIp?: number;
  /**
   * Client address used by `maxSessionsPerIp`. Override behind a proxy.
   * @default the socket's remote address
   */
  clientIp?: (request: IncomingMessage) => string | undefined;
  /**
   * Transports served and advertised in `welcome`; the others are refused (WebSocket upgrade: HTTP 403;
   * HTTP: 400 `transport not offered`).
   * @default ['websocket', 'sse', 'fetch-stream', 'long-poll']
   */
  transports?: readonly TransportName[];
  /**
   * Delay before a standalone `ack` when nothing else is sent, in ms.
   * @default 50
   */
  ackDelay?: number;
  /**
   * While the connection has more than this many bytes queued, outgoing messages wait and are batched.
   * @default 1048576 (1 MiB)
   */
  backpressureThreshold?: number;
  /**
   * SSE / fetch-stream links: write a `:` comment after this many ms without writing, so idle proxies keep the stream.
   * @default 15000
   */
  streamHeartbeat?: number;
  /**
   * Long-poll links: the longest a poll is held waiting for frames, in ms (a poll's `wait` is capped
   * by it). A link with no poll for `pollTimeout` + 10000 ms is dropped (the session stays resumable).
   * @default 25000
   */
  pollTimeout?: number;
  /**
   * Keep sessions in this store (e.g. `fileSessionStore(dir)`) so they survive a server restart or
   * crash: sessions found at construction are restored as disconnected, resumable sessions and
   * announced with the server's `'restore'` event (not `'connection'`).
   * @default undefined (in memory only)
   */
  sessionStore?: SessionStore;
  /**
   * Keep sessions in Redis, shared by several server processes behind any load balancer:
   * `cluster: redisCluster({ url })` from `realtime-client/server/redis` (README, "Running
   * several nodes"). Not with `sessionStore`.
   * @default undefined (sessions in this process's memory)
   */
  cluster?: SessionEngine;
}

export interface ResolvedOptions {
  path: string;
  allowedOrigins: readonly string[] | ((origin: string) => boolean) | undefined;
  heartbeatInterval: number;
  maxMessageBytes: number;
  replay: { maxMessages: number; maxBytes: number };
  maxTotalReplayBytes: number;
  maxTotalBodyBytes: number;
  sessionTtl: number;
  handshakeTimeout: number;
  requestTimeout: number;
  headersTimeout: number;
  foreignUpgradeTimeout: number;
  authenticate: Authenticate | undefined;
  maxSessionsPerIp: number;
  clientIp: ((request: IncomingMessage) => string | undefined) | undefined;
  transports: TransportName[];
  ackDelay: number;
  backpressureThreshold: number;
  streamHeartbeat: number;
  pollTimeout: number;
  sessionStore: SessionStore | undefined;
  cluster: SessionEngine | undefined;
}

export const DEFAULTS = {
  path: '/realtime',
  heartbeatInterval: 25_000,
  maxMessageBytes: 1024 * 1024,
  replayMaxMessages: 10_000,
  replayMaxBytes: 8 * 1024 * 1024,
  maxTotalReplayBytes: 128 * 1024 * 1024,
  maxTotalBodyBytes: 64 * 1024 * 1024,
  sessionTtl: 120_000,
  handshakeTimeout: 10_000,
  requestTimeout: 30_000,
  headersTimeout: 20_000,
  foreignUpgradeTimeout: 1000,
  maxSessionsPerIp: 100,
  transports: ['websocket', 'sse', 'fetch-stream', 'long-poll'] as TransportName[],
  ackDelay: 50,
  backpressureThreshold: 1024 * 1024,
  streamHeartbeat: 15_000,
  pollTimeout: 25_000,
} as const;

function positive(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new RangeError(`RealtimeServer: option "${name}" must be a number >= ${min}, got ${String(value)}`);
  }
  return value;
}

function storeOption(store: SessionStore | undefined): SessionStore | undefined {
  if (store === undefined) return undefined;
  if (
    !store ||
    typeof store.load !== 'function' ||
    typeof store.save !== 'function' ||
    typeof store.remove !== 'function'
  ) {
    throw new TypeError('RealtimeServer: option "sessionStore" must have load(), save() and remove()');
  }
  return store;
}

function clusterOption(cluster: SessionEngine | undefined, store: SessionStore | undefined): SessionEngine | undefined {
  if (cluster === undefined) return undefined;
  if (
    !cluster ||
    typeof cluster.bind !== 'function' ||
    typeof cluster.create !== 'function' ||
    typeof cluster.find !== 'function'
  ) {
    throw new TypeError(
      'RealtimeServer: option "cluster" must be an engine such as redisCluster({ url }) from realtime-client/server/redis',
    );
  }
  if (store !== undefined)
    throw new TypeError(
      'RealtimeServer: options "cluster" and "sessionStore" exclude each other: with a cluster, sessions are kept in Redis',
    );
  return cluster;
}

export function resolveOptions(o: RealtimeServerOptions): ResolvedOptions {
  const path = o.path ?? DEFAULTS.path;
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw new TypeError('RealtimeServer: option "path" must start with "/"');
  const maxMessageBytes = positive('maxMessageBytes', o.maxMessageBytes, DEFAULTS.maxMessageBytes, MIN_FRAME_LIMIT);
  return {
    path,
    allowedOrigins: o.allowedOrigins,
    heartbeatInterval: positive('heartbeatInterval', o.heartbeatInterval, DEFAULTS.heartbeatInterval),
    maxMessageBytes,
    replay: {
      maxMessages: positive('replay.maxMessages', o.replay?.maxMessages, DEFAULTS.replayMaxMessages),
      maxBytes: positive('replay.maxBytes', o.replay?.maxBytes, DEFAULTS.replayMaxBytes),
    },
    // At least one message of the largest size must fit, or no session could be sent anything.
    maxTotalReplayBytes: positive(
      'maxTotalReplayBytes',
      o.maxTotalReplayBytes,
      Math.max(DEFAULTS.maxTotalReplayBytes, maxMessageBytes),
      maxMessageBytes,
    ),
    maxTotalBodyBytes: positive(
      'maxTotalBodyBytes',
      o.maxTotalBodyBytes,
      Math.max(DEFAULTS.maxTotalBodyBytes, BODY_LIMIT_FACTOR * maxMessageBytes),
      BODY_LIMIT_FACTOR * maxMessageBytes,
    ),
    sessionTtl: positive('sessionTtl', o.sessionTtl, DEFAULTS.sessionTtl, 0),
    handshakeTimeout: positive('handshakeTimeout', o.handshakeTimeout, DEFAULTS.handshakeTimeout),
    requestTimeout: positive('requestTimeout', o.requestTimeout, DEFAULTS.requestTimeout),
    headersTimeout: positive('headersTimeout', o.headersTimeout, DEFAULTS.headersTimeout, 0),
    foreignUpgradeTimeout: positive(
      'foreignUpgradeTimeout',
      o.foreignUpgradeTimeout,
      DEFAULTS.foreignUpgradeTimeout,
      0,
    ),
    authenticate: o.authenticate,
    maxSessionsPerIp: positive('maxSessionsPerIp', o.maxSessionsPerIp, DEFAULTS.maxSessionsPerIp),
    clientIp: o.clientIp,
    transports: [...(o.transports ?? DEFAULTS.transports)],
    ackDelay: positive('ackDelay', o.ackDelay, DEFAULTS.ackDelay, 0),
    backpressureThreshold: positive(
      'backpressureThreshold',
      o.backpressureThreshold,
      DEFAULTS.backpressureThreshold,
      0,
    ),
    streamHeartbeat: positive('streamHeartbeat', o.streamHeartbeat, DEFAULTS.streamHeartbeat),
    pollTimeout: positive('pollTimeout', o.pollTimeout, DEFAULTS.pollTimeout, 0),
    sessionStore: storeOption(o.sessionStore),
    cluster: clusterOption(o.cluster, o.sessionStore),
  };
}
