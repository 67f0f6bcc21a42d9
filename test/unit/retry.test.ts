import { describe, it, expect } from 'vitest';
import {
  backoffDelay,
  decide,
  defaultReconnect,
  MAX_AUTH_FAILURES,
  MAX_RETRY_AFTER,
  type Decision,
  type LadderState,
  type Outcome,
  type ReconnectOptions,
} from '../../src/client/retry';
import { RealtimeError } from '../../src/client/errors';
import { seeded as mulberry32 } from '../seeded';

const opts = (o: Partial<ReconnectOptions> = {}): ReconnectOptions => ({ ...defaultReconnect, ...o });
const ALMOST_ONE = 1 - 1e-9;
const fixed = (x: number) => () => x;

describe('backoffDelay (full jitter)', () => {
  it('random()=0 gives a delay of 0 at any attempt', () => {
    for (const attempt of [0, 1, 5, 20]) expect(backoffDelay(attempt, opts(), fixed(0))).toBe(0);
  });

  it('random() just below 1 gives just below min(maxDelay, initialDelay·factor^attempt)', () => {
    const o = opts({ initialDelay: 1000, factor: 2, maxDelay: 30000 });
    expect(backoffDelay(0, o, fixed(ALMOST_ONE))).toBe(999);
    expect(backoffDelay(1, o, fixed(ALMOST_ONE))).toBe(1999);
    expect(backoffDelay(3, o, fixed(ALMOST_ONE))).toBe(7999);
    expect(backoffDelay(4, o, fixed(ALMOST_ONE))).toBe(15999);
  });

  it('the upper bound grows by factor with each attempt (fixed random 0.5)', () => {
    const o = opts({ initialDelay: 100, factor: 3, maxDelay: 1e9 });
    const delays = [0, 1, 2, 3, 4].map((a) => backoffDelay(a, o, fixed(0.5)));
    expect(delays).toEqual([50, 150, 450, 1350, 4050]);
  });

  it('the upper bound is capped by maxDelay at high attempts', () => {
    const o = opts({ initialDelay: 1000, factor: 2, maxDelay: 30000 });
    expect(backoffDelay(5, o, fixed(ALMOST_ONE))).toBe(29999); // 32000 uncapped
    expect(backoffDelay(50, o, fixed(ALMOST_ONE))).toBe(29999);
    expect(backoffDelay(50, o, fixed(0.5))).toBe(15000);
  });

  it('over many seeded draws the delays spread across the whole range [0, cap), not near the cap', () => {
    const random = mulberry32(42);
    const cap = 30000;
    const o = opts({ initialDelay: 1000, factor: 2, maxDelay: cap });
    const delays = Array.from({ length: 10000 }, () => backoffDelay(10, o, random));
    const min = Math.min(...delays);
    const max = Math.max(...delays);
    expect(min).toBeGreaterThanOrEqual(0);
    expect(min).toBeLessThan(cap * 0.01);
    expect(max).toBeLessThan(cap);
    expect(max).toBeGreaterThan(cap * 0.99);
    // Every tenth of the range gets a share close to 10%.
    const buckets = new Array(10).fill(0);
    for (const d of delays) buckets[Math.floor((d / cap) * 10)]++;
    for (const b of buckets) {
      expect(b).toBeGreaterThan(800);
      expect(b).toBeLessThan(1200);
    }
    expect(delays.every(Number.isInteger)).toBe(true);
  });
});

/** decide() for a connection that ended with `code`, on a ladder of one transport unless `state` says otherwise. */
function decideFor(
  code: number,
  reason: string,
  attempt: number,
  authFailures: number,
  o: ReconnectOptions | false,
  random: () => number,
  retryAfter?: number,
  more: Partial<Outcome & LadderState> = {},
): Decision {
  const { fallback, transports = 1, best = 0, everOpened } = more;
  return decide(
    { code, reason, retryAfter, fallback },
    { transports, attempt, authFailures, best, everOpened },
    o,
    random,
  );
}

/** The error of a give-up decision, failing the test for any other. */
function givenUp(d: Decision) {
  expect(d.kind).toBe('give-up');
  if (d.kind !== 'give-up') throw new Error('not given up');
  return d.error;
}

describe('decide: give up or wait', () => {
  const r = fixed(0.5);

  it.each([1000, 4400, 4403, 4406, 4413])(
    'fatal close %i gives a connection-refused error with the closeCode',
    (code) => {
      const error = givenUp(decideFor(code, 'bye', 0, 0, opts(), r));
      expect(error).toBeInstanceOf(RealtimeError);
      expect(error.code).toBe('connection-refused');
      expect(error.closeCode).toBe(code);
      expect(error.message).toContain(String(code));
      expect(error.message).toContain('connect()');
    },
  );

  it('fatal close is refused even when reconnect is off', () => {
    expect(givenUp(decideFor(4403, '', 0, 0, false, r)).code).toBe('connection-refused');
  });

  it.each([1001, 1006, 4408, 4429, 4500])('retryable close %i gives a backoff delay', (code) => {
    expect(decideFor(code, '', 2, 0, opts({ initialDelay: 1000, factor: 2 }), r)).toEqual({
      kind: 'wait',
      delay: 2000,
      from: 0,
    }); // 0.5 · 1000 · 2²
  });

  it('4401 retries while authFailures < MAX_AUTH_FAILURES, then gives unauthorized', () => {
    for (let n = 0; n < MAX_AUTH_FAILURES; n++) {
      expect(decideFor(4401, 'bad token', 0, n, opts(), r)).toMatchObject({ kind: 'wait' });
    }
    const error = givenUp(decideFor(4401, 'bad token', 0, MAX_AUTH_FAILURES, opts(), r));
    expect(error.code).toBe('unauthorized');
    expect(error.closeCode).toBe(4401);
    expect(error.message).toContain('auth');
  });

  it('maxAttempts reached gives reconnect-failed with the closeCode', () => {
    const o = opts({ maxAttempts: 3 });
    expect(decideFor(1006, '', 2, 0, o, r)).toMatchObject({ kind: 'wait' });
    const error = givenUp(decideFor(1006, '', 3, 0, o, r));
    expect(error.code).toBe('reconnect-failed');
    expect(error.closeCode).toBe(1006);
    expect(error.message).toContain('3');
    expect(error.message).toContain('connect()');
  });

  it('the give-up says "Could not connect" when no connection of the run opened, "Connection lost" when one did; a missing reason leaves no blank', () => {
    const o = opts({ maxAttempts: 2 });
    expect(givenUp(decideFor(1006, '', 2, 0, o, r, undefined, { everOpened: false })).message).toBe(
      'Could not connect (1006) after 2 retries, the most reconnect allows: check the URL and that the server runs, then call connect()',
    );
    expect(givenUp(decideFor(1006, 'gone', 2, 0, o, r, undefined, { everOpened: true })).message).toBe(
      'Connection lost (1006 gone) after 2 retries, the most reconnect allows: call connect()',
    );
  });

  it('reconnect false on a retryable close gives reconnect-failed', () => {
    const error = givenUp(decideFor(1001, 'restart', 0, 0, false, r));
    expect(error.code).toBe('reconnect-failed');
    expect(error.closeCode).toBe(1001);
    expect(error.message).toContain('connect()');
  });

  it('default maxAttempts (Infinity) never gives up on a retryable close', () => {
    expect(decideFor(1006, '', 1e6, 0, opts(), r)).toEqual({ kind: 'wait', delay: 15000, from: 0 });
  });
});

describe('decide: fallback within an attempt', () => {
  const r = fixed(0.5);
  const three = { transports: 3, best: 1 };

  it('a transport that never proved itself falls back to the next at once, without backoff', () => {
    expect(decideFor(1006, 'refused', 0, 0, opts(), r, undefined, { ...three, fallback: 2 })).toEqual({
      kind: 'fallback',
      to: 2,
    });
  });

  it('past the last transport it waits, and the next attempt starts again from the first', () => {
    expect(
      decideFor(1006, 'refused', 0, 0, opts({ initialDelay: 1000 }), r, undefined, { ...three, fallback: 3 }),
    ).toEqual({ kind: 'wait', delay: 500, from: 0 });
  });

  it('a connection that proved itself (no fallback) waits and starts again from the best transport', () => {
    expect(decideFor(1006, 'blip', 0, 0, opts({ initialDelay: 1000 }), r, undefined, three)).toEqual({
      kind: 'wait',
      delay: 500,
      from: 1,
    });
  });

  it('a refused token never falls back: auth() is asked again on the same transport', () => {
    expect(
      decideFor(4401, 'bad token', 0, 1, opts({ initialDelay: 1000 }), r, undefined, { ...three, fallback: 2 }),
    ).toEqual({ kind: 'wait', delay: 500, from: 1 });
  });

  it('a do-not-reconnect close never falls back', () => {
    expect(givenUp(decideFor(4403, 'banned', 0, 0, opts(), r, undefined, { ...three, fallback: 2 })).code).toBe(
      'connection-refused',
    );
  });
});

describe('decide: Retry-After', () => {
  it("the server's Retry-After is a floor under the jittered delay", () => {
    const o = { initialDelay: 100, maxDelay: 1000, factor: 2, maxAttempts: Infinity, resetAfter: 5000 };
    expect(decideFor(4500, 'HTTP 503', 0, 0, o, () => 0.5, 3000)).toEqual({ kind: 'wait', delay: 3000, from: 0 });
    expect(decideFor(4500, 'HTTP 503', 0, 0, o, () => 0.5, 10)).toEqual({ kind: 'wait', delay: 50, from: 0 });
  });

  it('is obeyed up to an hour: a larger one (or one past what setTimeout holds, which would fire at once) waits an hour', () => {
    expect(MAX_RETRY_AFTER).toBe(3600_000);
    for (const retryAfter of [3600_001, 2 ** 31, 99999999999000, Infinity])
      expect(decideFor(4500, 'HTTP 503', 0, 0, opts(), () => 0.5, retryAfter)).toEqual({
        kind: 'wait',
        delay: 3600_000,
        from: 0,
      });
    expect(decideFor(4500, 'HTTP 503', 0, 0, opts(), () => 0.5, 3599_000)).toEqual({
      kind: 'wait',
      delay: 3599_000,
      from: 0,
    });
  });
});
