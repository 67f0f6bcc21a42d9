import type { Env } from './env';

/** The longest delay setTimeout honours (about 24.8 days): browsers and Node run a longer one at once. */
const MAX_DELAY = 2 ** 31 - 1;

/** Pure core: has the deadline passed? Compared with wall-clock time, since background tabs delay timers. */
export const isOverdue = (now: number, lastInbound: number, deadline: number): boolean => now - lastInbound >= deadline;

/**
 * One watchdog per connection, reset by any inbound frame. Resetting only stores a timestamp,
 * so a flood of frames costs no timer churn; the single timer re-arms itself for what remains.
 */
export class Watchdog {
  #last = 0;
  #deadline = 0;
  #timer: unknown;
  readonly #env: Env;
  readonly #onTimeout: () => void;

  constructor(env: Env, onTimeout: () => void) {
    this.#env = env;
    this.#onTimeout = onTimeout;
  }

  /** Starts (or re-arms) the watchdog with a deadline in ms after the last inbound frame. */
  start(deadline: number): void {
    this.#deadline = deadline;
    this.touch();
    this.#arm(deadline);
  }

  touch(): void {
    this.#last = this.#env.now();
  }

  /** Checks at once; called on visibilitychange, resume, online and pageshow, when a throttled timer may be late. */
  check(): void {
    if (!this.#deadline) return;
    const now = this.#env.now();
    if (isOverdue(now, this.#last, this.#deadline)) {
      this.stop();
      this.#onTimeout();
    } else this.#arm(this.#deadline - (now - this.#last));
  }

  stop(): void {
    this.#deadline = 0;
    this.#env.clearTimeout(this.#timer);
  }

  #arm(ms: number): void {
    this.#env.clearTimeout(this.#timer);
    // The deadline comes from the server's hb: one past MAX_DELAY would fire at once and re-arm,
    // over and over. Waking at MAX_DELAY instead, check() re-arms for what remains.
    this.#timer = this.#env.setTimeout(() => this.check(), Math.min(ms, MAX_DELAY));
  }
}
