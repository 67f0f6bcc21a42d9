import type { Env } from '../env';
import { Watchdog } from '../heartbeat';

/**
 * How long a follower goes without a word from the tab holding the connection before it takes
 * the connection over, in ms: `heartbeat.timeout` of silence, then a probe, which a tab that runs
 * answers at once (even one whose timers are throttled in the background: channel messages are
 * not), and `heartbeat.timeout` more without an answer. A holder that closes or crashes lets go of
 * its lock at once; this bounds one that is hung or frozen without a word.
 */
export const holderBound = (timeout: number): number => 2 * timeout;

/** What the watch needs from its tab. */
export interface WatchHost {
  readonly env: Env;
  /** heartbeat.timeout */
  readonly timeout: number;
  /** Asks the holder whether it runs. */
  probe(): void;
  /**
   * The holder (`holder`, when known) said nothing within the bound: take the connection from it,
   * unless it speaks meanwhile (see `silent`).
   */
  silent(holder: string | undefined): void;
}

/**
 * A follower's watch on the tab holding the connection: any message from it counts, and
 * silence is first met with a probe, then with the takeover (see {@link holderBound}).
 */
export class HolderWatch {
  /** 'taking': silent past the bound, and the tab is about to take over unless it hears from the holder first. */
  #phase: 'off' | 'listening' | 'asking' | 'taking' = 'off';
  /** The holder last heard of, by the messages that name it. */
  #holder: string | undefined;
  readonly #dog: Watchdog;

  constructor(private readonly host: WatchHost) {
    this.#dog = new Watchdog(host.env, () => this.#quiet());
  }

  start(): void {
    this.#phase = 'listening';
    this.#dog.start(this.host.timeout);
  }

  stop(): void {
    this.#phase = 'off';
    this.#dog.stop();
  }

  /** The holder said something (`holder`: and named itself). */
  heard(holder?: string): void {
    if (holder) this.#holder = holder;
    if (this.#phase === 'off') return;
    if (this.#phase === 'taking') this.#dog.start(this.host.timeout);
    else this.#dog.touch();
    this.#phase = 'listening';
  }

  /** Whether the holder is still silent since silent() was called. */
  get silent(): boolean {
    return this.#phase === 'taking';
  }

  /** Checks now: timers may have stood still (a frozen or throttled page). */
  check(): void {
    this.#dog.check();
  }

  #quiet(): void {
    if (this.#phase === 'listening') {
      this.#phase = 'asking';
      this.host.probe();
      this.#dog.start(this.host.timeout);
    } else if (this.#phase === 'asking') {
      this.#phase = 'taking';
      this.host.silent(this.#holder);
    }
  }
}
