import { describe, it, expect, vi } from 'vitest';
import { Watchdog, isOverdue } from '../../src/client/heartbeat';
import type { Env } from '../../src/client/env';

/** A manual clock: timers run only in advance(); `jump` moves wall-clock time without running them. */
function manualEnv() {
  let now = 1_000_000;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const setTimeout = vi.fn((fn: () => void, ms: number) => {
    const id = nextId++;
    timers.set(id, { at: now + ms, fn });
    return id;
  });
  const clearTimeout = vi.fn((id: unknown) => {
    timers.delete(id as number);
  });
  const env = { setTimeout, clearTimeout, now: () => now } as Pick<Env, 'setTimeout' | 'clearTimeout' | 'now'> as Env;
  return {
    env,
    setTimeout,
    pending: () => timers.size,
    /** Advances time, running due timers in order (like a foreground tab). */
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const e of timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
    /** Moves wall-clock time only (a throttled background tab whose timers have not fired). */
    jump(ms: number) {
      now += ms;
    },
  };
}

describe('isOverdue', () => {
  it('is true exactly at the deadline and false one ms before', () => {
    expect(isOverdue(1099, 100, 1000)).toBe(false);
    expect(isOverdue(1100, 100, 1000)).toBe(true);
  });
});

describe('Watchdog', () => {
  it('waits out a deadline beyond what setTimeout honours (a welcome with a huge hb) in the longest steps it does, instead of firing at once', () => {
    // setTimeout runs a delay over 2^31−1 ms at once: the watchdog then re-armed at once, forever.
    const c = manualEnv();
    const onTimeout = vi.fn();
    new Watchdog(c.env, onTimeout).start(2 ** 53 - 1);
    c.advance(2 ** 31);
    expect(onTimeout).not.toHaveBeenCalled();
    for (const [, ms] of c.setTimeout.mock.calls) expect(ms).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(c.setTimeout).toHaveBeenCalledTimes(2);
  });

  it('with no touch fires onTimeout once, at the deadline, not before', () => {
    const c = manualEnv();
    const onTimeout = vi.fn();
    new Watchdog(c.env, onTimeout).start(1000);
    c.advance(999);
    expect(onTimeout).not.toHaveBeenCalled();
    c.advance(1);
    expect(onTimeout).toHaveBeenCalledTimes(1);
    c.advance(10_000);
    expect(onTimeout).toHaveBeenCalledTimes(1);
    expect(c.pending()).toBe(0);
  });

  it('touch() postpones the timeout to a deadline after the last touch', () => {
    const c = manualEnv();
    const onTimeout = vi.fn();
    const w = new Watchdog(c.env, onTimeout);
    w.start(1000);
    c.advance(600);
    w.touch();
    c.advance(600); // 1200 since start, 600 since touch
    expect(onTimeout).not.toHaveBeenCalled();
    c.advance(399);
    expect(onTimeout).not.toHaveBeenCalled();
    c.advance(1); // 1000 since touch
    expect(onTimeout).toHaveBeenCalledTimes(1);
  });

  it('many touch() calls create no timers', () => {
    const c = manualEnv();
    const onTimeout = vi.fn();
    const w = new Watchdog(c.env, onTimeout);
    w.start(1000);
    expect(c.setTimeout).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 10_000; i++) w.touch();
    c.advance(500);
    for (let i = 0; i < 10_000; i++) w.touch();
    expect(c.setTimeout).toHaveBeenCalledTimes(1);
    expect(c.pending()).toBe(1);
    expect(onTimeout).not.toHaveBeenCalled();
  });

  it('check() fires at once when wall-clock time passed the deadline in a throttled background tab', () => {
    const c = manualEnv();
    const onTimeout = vi.fn();
    const w = new Watchdog(c.env, onTimeout);
    w.start(1000);
    c.jump(5000); // timers did not run
    expect(onTimeout).not.toHaveBeenCalled();
    w.check(); // e.g. on visibilitychange
    expect(onTimeout).toHaveBeenCalledTimes(1);
    expect(c.pending()).toBe(0);
    c.advance(10_000);
    expect(onTimeout).toHaveBeenCalledTimes(1);
  });

  it('check() before the deadline does not fire and re-arms for the time remaining', () => {
    const c = manualEnv();
    const onTimeout = vi.fn();
    const w = new Watchdog(c.env, onTimeout);
    w.start(1000);
    c.jump(400);
    w.check();
    expect(onTimeout).not.toHaveBeenCalled();
    expect(c.pending()).toBe(1);
    c.advance(599);
    expect(onTimeout).not.toHaveBeenCalled();
    c.advance(1);
    expect(onTimeout).toHaveBeenCalledTimes(1);
  });

  it('stop() prevents firing, from the timer and from check()', () => {
    const c = manualEnv();
    const onTimeout = vi.fn();
    const w = new Watchdog(c.env, onTimeout);
    w.start(1000);
    c.advance(500);
    w.stop();
    c.advance(10_000);
    w.check();
    expect(onTimeout).not.toHaveBeenCalled();
    expect(c.pending()).toBe(0);
  });

  it('start() after stop() re-arms with a fresh deadline from now', () => {
    const c = manualEnv();
    const onTimeout = vi.fn();
    const w = new Watchdog(c.env, onTimeout);
    w.start(1000);
    w.stop();
    c.advance(5000);
    w.start(2000);
    c.advance(1999);
    expect(onTimeout).not.toHaveBeenCalled();
    c.advance(1);
    expect(onTimeout).toHaveBeenCalledTimes(1);
  });

  it('start() after a timeout arms again and fires again', () => {
    const c = manualEnv();
    const onTimeout = vi.fn();
    const w = new Watchdog(c.env, onTimeout);
    w.start(1000);
    c.advance(1000);
    w.start(1000);
    expect(c.pending()).toBe(1);
    c.advance(1000);
    expect(onTimeout).toHaveBeenCalledTimes(2);
  });

  it('start() while running replaces the timer instead of adding one', () => {
    const c = manualEnv();
    const onTimeout = vi.fn();
    const w = new Watchdog(c.env, onTimeout);
    w.start(1000);
    c.advance(900);
    w.start(1000);
    expect(c.pending()).toBe(1);
    c.advance(999);
    expect(onTimeout).not.toHaveBeenCalled();
    c.advance(1);
    expect(onTimeout).toHaveBeenCalledTimes(1);
  });
});
