import type { Conn } from '../conn';
import type { Target } from '../target';

/**
 * One transport of §13-§14, as the kit drives it. Cases never look at a driver's name: what
 * differs between transports is behind `open()` and these flags.
 */
export interface TransportDriver {
  /** The transport name of welcome.transports and the command line. */
  readonly name: 'websocket' | 'sse' | 'fetch-stream' | 'long-poll';
  /** Carried over HTTP requests (§14): links, POSTs, statuses. */
  readonly http: boolean;
  /** A stream link (SSE framing, §14.2). */
  readonly stream: boolean;
  /** A long-poll link (§14.4). */
  readonly polls: boolean;
  /** The transport closes with a code and reason of its own, besides the close frame (WebSocket). */
  readonly closeCodes: boolean;
  /** Opens a connection (no hello sent yet). `headers` are added to the request that opens it. */
  open(target: Target, headers?: Record<string, string>): Promise<Conn & HttpConn>;
}

/** What HTTP links add: the raw requests cases need to look at. */
export interface HttpConn {
  /** The response that opened the link (HTTP transports), for its status and headers. */
  readonly opening?: { status: number; headers: Record<string, string | string[] | undefined>; firstBytes: string };
}

/** Headers every request of the kit carries: the target's Origin when one was given. */
export function baseHeaders(target: Target, extra: Record<string, string> = {}): Record<string, string> {
  return { ...(target.origin ? { Origin: target.origin } : {}), ...extra };
}
