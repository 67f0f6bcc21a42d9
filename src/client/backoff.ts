import { CloseCode, isRetryableClose } from '../protocol';
import { RealtimeError } from './errors';

export interface ReconnectOptions {
  /** Upper bound of the first retry's delay, in ms. @default 1000 */
  initialDelay: number;
  /** Cap on any delay, in ms. @default 30000 */
  maxDelay: number;
  /** Growth of the delay's upper bound per failed attempt. @default 2 */
  factor: number;
  /** Failed attempts in a row before giving up with a 'reconnect-failed' error. @default Infinity */
  maxAttempts: number;
  /** How long a connection must stay open before the attempt counter resets, in ms. @default 5000 */
  resetAfter: number;
}

export const defaultReconnect: ReconnectOptions = {
  initialDelay: 1000,
  maxDelay: 30000,
  factor: 2,
  maxAttempts: Infinity,
  resetAfter: 5000,
};

/**
 * The longest Retry-After obeyed, in ms: a server still down after an hour gets one attempt an
 * hour, and a bogus header (a proxy's, or `Retry-After: 99999999999`) cannot park the client for
 * days, nor overflow setTimeout (past 2^31 - 1 ms it fires at once, so it would retry in a loop).
 */
export const MAX_RETRY_AFTER = 3600_000;

/** Refused tokens in a row before the client stops asking `auth` and gives up. */
export const MAX_AUTH_FAILURES = 3;

/**
 * Full jitter: uniform in [0, min(maxDelay, initialDelay·factor^attempt)). Spreading over the
 * whole range, not around the cap, is what keeps a thousand clients from returning in step.
 */
export const backoffDelay = (attempt: number, o: ReconnectOptions, random: () => number): number =>
  Math.floor(random() * Math.min(o.maxDelay, o.initialDelay * o.factor ** attempt));

export type RetryDecision = { delay: number } | { error: RealtimeError };

/**
 * The one place that decides whether a lost connection is worth another attempt.
 * `attempt` counts failed attempts so far; `authFailures` counts 4401 closes in a row (HTTP 401
 * and 403 arrive as 4401); `retryAfter` is the server's Retry-After in ms.
 */
export function shouldRetry(
  code: number,
  reason: string,
  attempt: number,
  authFailures: number,
  o: ReconnectOptions | false,
  random: () => number,
  retryAfter = 0,
): RetryDecision {
  if (code === CloseCode.UNAUTHORIZED && authFailures >= MAX_AUTH_FAILURES)
    return { error: new RealtimeError('unauthorized', `Token or access refused ${authFailures} times (${code} ${reason}): check what auth() returns and the Origin allow-list`, { closeCode: code }) };
  if (!isRetryableClose(code))
    return { error: new RealtimeError('connection-refused', `Server closed with ${code} ${reason} (do not reconnect): fix the cause, then call connect()`, { closeCode: code }) };
  if (!o || attempt >= o.maxAttempts)
    return { error: new RealtimeError('reconnect-failed', `Connection lost (${code} ${reason}) after ${attempt} retries, the most reconnect allows: call connect()`, { closeCode: code }) };
  // The server's Retry-After is a floor: jitter still spreads clients out above it.
  return { delay: Math.max(Math.min(retryAfter, MAX_RETRY_AFTER), backoffDelay(attempt, o, random)) };
}
