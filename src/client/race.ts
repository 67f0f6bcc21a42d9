import type { Env } from './env';
import type { Connection } from './transports/types';

/** One transport's try within an attempt: which one, and its connection once open() returned. */
export interface Racer {
  readonly index: number;
  conn: Connection | null;
}

/**
 * The transports of one attempt, staggered: the first starts at once; while none has opened, the
 * next starts alongside it after `after` ms, or at once when one fails. The first to open wins
 * and the others are closed. A transport that works opens well within `after` (a WebSocket on
 * any network the page can use), so in the common case only one ever starts; one that never
 * opens (a stream behind a proxy that buffers it) costs `after`, not a whole attempt timeout.
 * Happy eyeballs (RFC 8305) does the same for IPv6 and IPv4.
 */
export class Race {
  #racers: Racer[] = [];
  #next: number;
  #timer: unknown;

  constructor(
    private readonly env: Env,
    /** Stagger, in ms: `fallbackAfter`. */
    private readonly after: number,
    /** How many transports may race. */
    private readonly total: number,
    from: number,
    /** Starts `racer`'s transport; returns its connection, or null when it could not start (reported apart). */
    private readonly launch: (racer: Racer) => Connection | null,
  ) {
    this.#next = from;
  }

  /** The next transport not yet started; `total` when all have been. */
  get next(): number {
    return this.#next;
  }

  /** Racers still trying. */
  get racing(): number {
    return this.#racers.length;
  }

  /** Whether `racer` is still in the race: callbacks of the others are stale. */
  has(racer: Racer): boolean {
    return this.#racers.includes(racer);
  }

  /** Starts the next transport now, and arms the stagger for the one after it. */
  startNext(): void {
    this.env.clearTimeout(this.#timer);
    if (this.#next >= this.total) return;
    const racer: Racer = { index: this.#next++, conn: null };
    this.#racers.push(racer);
    if (this.#next < this.total && this.after < Infinity)
      this.#timer = this.env.setTimeout(() => this.startNext(), this.after);
    racer.conn = this.launch(racer);
  }

  /** `racer` opened first: the others are closed, and nothing more starts. */
  win(racer: Racer): void {
    this.env.clearTimeout(this.#timer);
    for (const r of this.#racers) if (r !== racer) r.conn?.close(1000, 'another transport opened first');
    this.#racers = [racer];
    this.#next = this.total;
  }

  /** `racer` failed or was given up: it leaves the race. */
  leave(racer: Racer): void {
    this.#racers = this.#racers.filter((r) => r !== racer);
  }

  /** Ends the race: closes every racer's connection with `code`, and starts nothing more. */
  end(code: number, reason: string): void {
    this.env.clearTimeout(this.#timer);
    const racers = this.#racers;
    this.#racers = [];
    this.#next = this.total;
    for (const r of racers) r.conn?.close(code, reason);
  }
}
