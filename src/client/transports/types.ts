import type { Env } from '../env';
import type { TransportName } from '../../protocol';

export type { TransportName };

/** What a transport reports. Each callback belongs to one connection attempt, and none is called from inside open(). */
export interface TransportHandlers {
  /** The connection can carry frames. */
  onOpen(): void;
  /** One frame of text arrived. */
  onFrame(text: string): void;
  /**
   * The connection ended without the client asking; called at most once. `retryAfter` (ms) is
   * the server's Retry-After, when it sent one: no attempt comes sooner.
   */
  onClose(code: number, reason: string, retryAfter?: number): void;
  /**
   * The server broke the protocol below the frames (an HTTP link that does not begin with its link
   * frame, a poll answer that never ends). The client reports a 'protocol-error' and closes the
   * connection, then reconnects as after a bad frame: unlike a close code from the server, our own
   * verdict never stops the client for good.
   */
  onProtocolError(what: string): void;
}

/** One live connection, as returned by {@link Transport.open}. */
export interface Connection {
  send(text: string): void;
  /** Ends the connection; the transport calls no handler after this. */
  close(code: number, reason: string): void;
  /** Bytes accepted by send() but not yet written, so the client can batch behind a backlog. */
  readonly buffered: number;
}

/** What a transport needs besides the URL and handlers. */
export interface OpenContext {
  env: Env;
  /** Plain mode: the endpoint speaks no protocol of ours, so no link handshake and no framing of ours. */
  plain: boolean;
  /** The token from `auth`, for a transport that carries it itself ({@link Transport.auth} 'header'). */
  token?: string;
  /**
   * Largest frame the client accepts, in bytes of UTF-8; the client refuses a longer one. A
   * transport that gathers a frame piecewise stops reading once the part it holds is longer than
   * this, and hands that part to onFrame (which the client refuses), so it never buffers more.
   */
  maxFrame: number;
  /** `heartbeat.timeout`: the grace past what the protocol allows the server, in ms. */
  timeout: number;
}

/** Every transport has this surface, so the client never needs to know which one it holds. */
export interface Transport {
  readonly name: TransportName;
  /**
   * How the token travels: 'header' means the transport sends {@link OpenContext.token} in an
   * `Authorization: Bearer` header and the hello frame carries none; 'frame' means it goes in the
   * hello frame (WebSocket, where browsers cannot set headers). Never in the URL.
   * @default 'frame'
   */
  readonly auth?: 'header' | 'frame';
  isSupported(env: Env): boolean;
  open(url: string, handlers: TransportHandlers, ctx: OpenContext): Connection;
}

/** Resolves `url` against the page and switches its scheme family (ws ⇄ http). */
export function toUrl(url: string, env: Env, secure: string, plain: string): string {
  const u = new URL(url, env.baseUrl);
  u.protocol = /^(https|wss):$/.test(u.protocol) ? secure : plain;
  return u.href;
}
