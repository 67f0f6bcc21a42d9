import type { IncomingMessage } from 'node:http';
import { CloseCode } from '../protocol';
import { faults } from './faults';
import type { ResolvedOptions } from './options';

/**
 * Who may come in (docs/protocol.md §4, §12, §14.6-§14.7): one check for every path, WebSocket
 * and HTTP alike, and the per-address counts it rests on.
 */

/** What a request wants: to open a connection (a WebSocket, an HTTP link), or to use one. */
export type Purpose = 'connect' | 'request';

/** A refusal, in both the forms a path may give it: a close code, and an HTTP status. */
export interface Refusal {
  code: number;
  status: number;
  reason: string;
  /** Seconds, for a Retry-After header. */
  retryAfter?: number;
}

export type Verdict = { admitted: true; ip: string } | { admitted: false; refusal: Refusal };

/** What admission needs from the server. */
export interface AdmissionHost {
  readonly options: ResolvedOptions;
  readonly shuttingDown: boolean;
  reportError(error: unknown, context: string): void;
}

/** Retry-After (seconds) while shutting down. */
export const SHUTDOWN_RETRY_AFTER_S = 5;

export const SHUTTING_DOWN: Refusal = {
  code: CloseCode.GOING_AWAY,
  status: 503,
  reason: 'server shutting down',
  retryAfter: SHUTDOWN_RETRY_AFTER_S,
};
const ORIGIN: Refusal = { code: CloseCode.FORBIDDEN, status: 403, reason: 'origin not allowed' };

export class Admission {
  /** Sessions per address, connected or awaiting resume. */
  private readonly sessions = new Map<string, number>();
  /** Connections (any transport) waiting for hello or authenticate, by address. */
  private readonly waiting = new Map<string, number>();

  constructor(private readonly host: AdmissionHost) {}

  /**
   * The one admission check, for every transport, in this order: shutting down, Origin, and (to
   * connect) connections from the address still waiting for their hello. Only an Origin that is
   * there is judged (§12): browsers send one with every WebSocket upgrade and every cross-origin
   * request, and omit it only on same-origin GETs; a client without one (Node, a native app) is
   * no page on another site, and could send any Origin it liked anyway.
   */
  admit(req: IncomingMessage, purpose: Purpose): Verdict {
    if (this.host.shuttingDown) return { admitted: false, refusal: SHUTTING_DOWN };
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin)) return { admitted: false, refusal: ORIGIN };
    const ip = this.clientIp(req);
    if (purpose === 'connect' && (this.waiting.get(ip) ?? 0) >= this.host.options.maxSessionsPerIp) {
      // Such connections cost memory and a timer. The session limit itself applies at hello,
      // once the server knows whether the connection resumes a session the address already has.
      const retryAfter = Math.ceil(this.host.options.handshakeTimeout / 1000);
      return {
        admitted: false,
        refusal: {
          code: CloseCode.RATE_LIMITED,
          status: 429,
          reason: 'too many connections waiting for hello from this address',
          retryAfter,
        },
      };
    }
    return { admitted: true, ip };
  }

  /** Whether `ip` may open one more session (checked at hello, for new sessions only). */
  mayOpenSession(ip: string): boolean {
    return (this.sessions.get(ip) ?? 0) < this.host.options.maxSessionsPerIp;
  }

  sessionOpened(ip: string): void {
    add(this.sessions, ip);
  }

  sessionEnded(ip: string): void {
    remove(this.sessions, ip);
  }

  /** A connection admitted to connect now waits for its hello. */
  waitingStarted(ip: string): void {
    add(this.waiting, ip);
  }

  /** Its welcome went out, or it ended before. */
  waitingOver(ip: string): void {
    remove(this.waiting, ip);
  }

  /** The client address used for per-address limits. */
  clientIp(request: IncomingMessage): string {
    const fallback = request.socket?.remoteAddress ?? 'unknown';
    const custom = this.host.options.clientIp;
    if (!custom) return fallback;
    try {
      return custom(request) ?? fallback;
    } catch (err) {
      // An app bug must not crash the process (this runs inside ws' upgrade callback).
      this.host.reportError(err, 'clientIp');
      return fallback;
    }
  }

  private originAllowed(origin: string): boolean {
    const allowed = this.host.options.allowedOrigins;
    if (allowed === undefined || faults.ignoreOrigin) return true;
    if (typeof allowed === 'function') {
      try {
        return allowed(origin) === true;
      } catch (err) {
        this.host.reportError(err, 'allowedOrigins');
        return false;
      }
    }
    const o = origin.toLowerCase().replace(/\/$/, '');
    return allowed.some((a) => a.toLowerCase().replace(/\/$/, '') === o);
  }
}

function add(counts: Map<string, number>, ip: string): void {
  counts.set(ip, (counts.get(ip) ?? 0) + 1);
}

function remove(counts: Map<string, number>, ip: string): void {
  const n = (counts.get(ip) ?? 1) - 1;
  if (n > 0) counts.set(ip, n);
  else counts.delete(ip);
}
