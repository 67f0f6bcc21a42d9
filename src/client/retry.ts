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

/** How a connection or an attempt ended. */
export interface Outcome {
  code: number;
  reason: string;
  /** The server's Retry-After, in ms. */
  retryAfter?: number | undefined;
  /**
   * The transport to try at once (an index into the usable ones) when this one never proved
   * itself; undefined when it did (or was let go), so the next attempt waits out the backoff.
   */
  fallback?: number | undefined;
}

/** Where the ladder stands when a connection ends. */
export interface LadderState {
  /** How many transports are usable here. */
  transports: number;
  /** Failed attempts since the last stable connection. */
  attempt: number;
  /** Refused tokens (close 4401; HTTP 401 and 403) in a row, this one included. */
  authFailures: number;
  /** The transport the next attempt starts from: the one that last worked, or the remembered one. */
  best: number;
  /** Whether a connection of this run (since connect()) has opened: if none has, nothing was "lost". */
  everOpened?: boolean;
  /** Other transports of this attempt still trying to open (none has yet). */
  racing?: number;
}

/** `code reason`, or the code alone when there is no reason (browsers give none for 1006). */
export function closeText(code: number, reason: string): string {
  return reason ? `${code} ${reason}` : String(code);
}

export type Decision =
  /** Try transport `to` at once, within the same attempt. */
  | { kind: 'fallback'; to: number }
  /** Every transport has started, and some are still trying: wait for them. */
  | { kind: 'race-on' }
  /** Wait `delay` ms, then attempt again from transport `from`. */
  | { kind: 'wait'; delay: number; from: number }
  /** Stop for good with `error`. */
  | { kind: 'give-up'; error: RealtimeError };

/**
 * The one place that decides what follows a lost connection: the next transport at once, another
 * attempt after a backoff delay, or the end. Pure: the ladder's counters and `random` come in.
 */
export function decide(
  o: Outcome,
  s: LadderState,
  reconnect: ReconnectOptions | false,
  random: () => number,
): Decision {
  const { code, reason } = o;
  let from = s.best;
  // A refused token is not a failed transport: auth() is asked again and 'unauthorized' ends it.
  if (code !== CloseCode.UNAUTHORIZED && isRetryableClose(code) && o.fallback !== undefined) {
    if (o.fallback < s.transports) return { kind: 'fallback', to: o.fallback };
    if (s.racing) return { kind: 'race-on' };
    from = 0; // every transport failed: the next attempt goes through them all again
  }
  if (code === CloseCode.UNAUTHORIZED && s.authFailures >= MAX_AUTH_FAILURES)
    return giveUp(
      'unauthorized',
      `Token or access refused ${s.authFailures} times (${closeText(code, reason)}): check what auth() returns and the Origin allow-list`,
      code,
    );
  if (!isRetryableClose(code))
    return giveUp(
      'connection-refused',
      `Server closed with ${closeText(code, reason)} (do not reconnect): fix the cause, then call connect()`,
      code,
    );
  if (!reconnect || s.attempt >= reconnect.maxAttempts) {
    const how = s.everOpened === false ? 'Could not connect' : 'Connection lost';
    const fix =
      s.everOpened === false ? 'check the URL and that the server runs, then call connect()' : 'call connect()';
    return giveUp(
      'reconnect-failed',
      `${how} (${closeText(code, reason)}) after ${s.attempt} retries, the most reconnect allows: ${fix}`,
      code,
    );
  }
  // The server's Retry-After is a floor: jitter still spreads clients out above it.
  return {
    kind: 'wait',
    delay: Math.max(Math.min(o.retryAfter ?? 0, MAX_RETRY_AFTER), backoffDelay(s.attempt, reconnect, random)),
    from,
  };
}

function giveUp(
  code: 'unauthorized' | 'connection-refused' | 'reconnect-failed',
  message: string,
  closeCode: number,
): Decision {
  return { kind: 'give-up', error: new RealtimeError(code, message, { closeCode }) };
}
