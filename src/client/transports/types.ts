import type { Env } from '../env';

/** Why a connection ended, as a transport reports it to {@link TransportHandlers.onClose}. */
export interface CloseReason {
  readonly code: number;
  readonly reason: string;
  /** The server's Retry-After in ms, when it sent one: no attempt comes sooner. */
  readonly retryAfter?: number | undefined;
}

/**
 * What a transport reports. Each callback belongs to one connection attempt. The rules every
 * transport keeps (test/unit/transport-contract.test.ts checks them for each one):
 * - none is called from inside {@link Transport.open}: the client has not got the connection yet;
 * - onOpen comes at most once, and before any onFrame;
 * - onClose (or onProtocolError) comes at most once, and nothing comes after it;
 * - nothing comes after the client's {@link Connection.close}.
 * They are properties, not methods, because transports pass them on as callbacks, unbound.
 */
export interface TransportHandlers {
  /** The connection can carry frames. */
  onOpen: () => void;
  /**
   * One frame of text arrived. `bytes`: its size in UTF-8 when the transport knows it without
   * counting (it read only ASCII bytes), so the client need not count a large frame again.
   */
  onFrame: (text: string, bytes?: number) => void;
  /**
   * The connection ended without the client asking; called at most once. `retryAfter` (ms) is
   * the server's Retry-After, when it sent one: no attempt comes sooner.
   */
  onClose: (code: number, reason: string, retryAfter?: number) => void;
  /**
   * The server broke the protocol below the frames (an HTTP link that does not begin with its link
   * frame, a poll answer that never ends). The client reports a 'protocol-error' and closes the
   * connection, then reconnects as after a bad frame: unlike a close code from the server, our own
   * verdict never stops the client for good.
   */
  onProtocolError: (what: string) => void;
}

/** One live connection, as returned by {@link Transport.open}. */
export interface Connection {
  send(text: string): void;
  /** Ends the connection; the transport calls no handler after this. */
  close(code: number, reason: string): void;
  /**
   * Bytes accepted by send() but not yet written, so the client can batch behind a backlog: more
   * than 0 while something waits, 0 once everything went out.
   */
  readonly buffered: number;
}

/**
 * What a plain endpoint resumes from, kept per client across its reconnects and updated by the
 * plain transports: the last SSE event id, the polling cursor, the ETag.
 */
export interface ResumeState {
  lastEventId?: string | undefined;
  cursor?: string | undefined;
  etag?: string | undefined;
}

/** What a transport needs besides the URL and handlers. */
export interface OpenContext {
  env: Env;
  /** The token from `auth`, for a transport that carries it itself ({@link Transport.auth} 'header'). */
  token?: string | undefined;
  /**
   * Largest frame the client accepts, in bytes of UTF-8; the client refuses a longer one. A
   * transport that gathers a frame piecewise stops reading once the part it holds is longer than
   * this, and hands that part to onFrame (which the client refuses), so it never buffers more.
   */
  maxFrame: number;
  /** `heartbeat.timeout`: the grace past what the protocol allows the server, in ms. */
  timeout: number;
  /** Plain mode: this client's resume state, the same object on every connection. */
  resume?: ResumeState | undefined;
}

/**
 * Every transport has this surface, so the client never needs to know which one it holds. The
 * built-in ones are `websocket()`, `sse()`, `fetchStream()`, `longPoll()` and, for plain mode,
 * `plainSse()`, `plainStream()`, `plainPoll()`; README "Writing a transport" shows a custom one.
 */
export interface Transport {
  /** Shown in `client.transport`, the 'open' and 'transport' events, and error messages; any string. */
  readonly name: string;
  /**
   * The protocol whose framing the transport adds, when it adds any: 'v1' for our HTTP links (a
   * link frame, then POSTs to the link), 'plain' for the plain HTTP variants. Absent: it carries
   * the client's frames as they are, which suits every protocol (WebSocket, most custom ones).
   * The client refuses a transport of another protocol than its own.
   * @default undefined
   */
  readonly protocol?: string | undefined;
  /**
   * How the token travels: 'header' means the transport sends {@link OpenContext.token} in an
   * `Authorization: Bearer` header and the hello frame carries none; 'frame' means it goes in the
   * hello frame (WebSocket, where browsers cannot set headers). Never in the URL.
   * @default 'frame'
   */
  readonly auth?: 'header' | 'frame' | undefined;
  isSupported(env: Env): boolean;
  open(url: string, handlers: TransportHandlers, ctx: OpenContext): Connection;
}

/** Resolves `url` against the page and switches its scheme family (ws ⇄ http). */
export function toUrl(url: string, env: Env, secure: string, plain: string): string {
  const u = new URL(url, env.baseUrl);
  u.protocol = /^(https|wss):$/.test(u.protocol) ? secure : plain;
  return u.href;
}
