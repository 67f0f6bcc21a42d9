import { CloseCode } from '../protocol';
import type { Env } from './env';
import type { Connection, TransportHandlers } from './transports/types';

/** One transport's try within an attempt: which one, and its connection once open() returned. */
export interface Racer {
  readonly index: number;
  conn: Connection | null;
}

/** What a race reports, for its live racers only: the callbacks of the others are stale. */
export interface RaceHost {
  /** Opens transport `index` with `handlers`; may throw (the racer has then failed). */
  open(index: number, handlers: TransportHandlers): Connection;
  /** `racer` opened first and carries the attempt; the others are closed. */
  won(racer: Racer): void;
  frame(text: string, bytes?: number): void;
  protocolError(what: string): void;
  /** `racer`'s connection ended, before it opened or after it won; it has left the race. */
  closed(racer: Racer, code: number, reason: string, retryAfter?: number): void;
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
    private readonly host: RaceHost,
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

  /** Starts the next transport now, and arms the stagger for the one after it. */
  startNext(): void {
    this.env.clearTimeout(this.#timer);
    if (this.#next >= this.total) return;
    const racer: Racer = { index: this.#next++, conn: null };
    this.#racers.push(racer);
    if (this.#next < this.total && this.after < Infinity)
      this.#timer = this.env.setTimeout(() => this.startNext(), this.after);
    try {
      racer.conn = this.host.open(racer.index, this.#handlers(racer));
    } catch (e) {
      this.#leave(racer);
      this.host.closed(racer, CloseCode.ABNORMAL, String(e));
    }
  }

  /** Ends the race: closes every racer's connection with `code`, and starts nothing more. */
  end(code: number, reason: string): void {
    this.env.clearTimeout(this.#timer);
    const racers = this.#racers;
    this.#racers = [];
    this.#next = this.total;
    for (const r of racers) r.conn?.close(code, reason);
  }

  #handlers(racer: Racer): TransportHandlers {
    const live = () => this.#racers.includes(racer);
    return {
      onOpen: () => {
        if (!live()) return;
        this.env.clearTimeout(this.#timer);
        for (const r of this.#racers)
          if (r !== racer) r.conn?.close(CloseCode.NORMAL, 'another transport opened first');
        this.#racers = [racer];
        this.#next = this.total;
        this.host.won(racer);
      },
      onFrame: (text, bytes) => live() && this.host.frame(text, bytes),
      onProtocolError: (what) => live() && this.host.protocolError(what),
      onClose: (code, reason, retryAfter) => {
        if (!live()) return;
        this.#leave(racer);
        this.host.closed(racer, code, reason, retryAfter);
      },
    };
  }

  #leave(racer: Racer): void {
    this.#racers = this.#racers.filter((r) => r !== racer);
  }
}
