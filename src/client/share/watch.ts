import type { Env } from '../env';
import { Watchdog } from '../heartbeat';
import type { Posted, TabMessage } from './channel';

/** What only the tab holding the connection posts: any of it shows that tab runs. */
const HOLDER_SAYS = new Set<TabMessage['t']>([
  'welcome',
  'msg',
  'acks',
  'sent',
  'acked',
  'session',
  'state',
  'ready',
  'down',
  'beat',
]);

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
  /** Settles once this tab has read what was posted on the channel up to now. */
  drain(): Promise<void>;
  /** Takes the connection from `holder` (when known), unless another tab does; resolves whether it did. */
  take(holder: string | undefined): Promise<boolean>;
}

/**
 * A tab's watch on the tab holding the connection. Which one: the latest term's (see Posted);
 * whether it runs: any message from it counts, and silence is first met with a probe, then with
 * the takeover (see {@link holderBound}).
 */
export class HolderWatch {
  /** 'taking': silent past the bound, and the tab is about to take over unless it hears from the holder first. */
  #phase: 'off' | 'listening' | 'asking' | 'taking' = 'off';
  /** The holder last heard of, and its term; this tab's own while it holds the connection. */
  #holder: string | undefined;
  #term = 0;
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

  get term(): number {
    return this.#term;
  }

  /** This tab holds the connection now, in a term later than any it heard of, and no earlier than now. */
  lead(): void {
    this.stop();
    this.#term = Math.max(this.host.env.now(), this.#term + 1);
  }

  /**
   * Whether a message is to be heard: a holder robbed of its lock may speak before it knows, and
   * once its successor spoke, it goes unheard.
   */
  hears(m: Posted): boolean {
    if (!HOLDER_SAYS.has(m.t)) return true;
    if (m.term < this.#term) return false;
    this.#term = m.term;
    this.#heard(m.by);
    return true;
  }

  /** The holder said something. */
  #heard(holder: string): void {
    this.#holder = holder;
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
      void this.#take();
    }
  }

  /**
   * The holder said nothing within the bound: it is hung, or frozen without a word. This tab
   * takes the lock from it and resumes the session as after a crash, unless the holder speaks
   * first or another tab takes over. What was posted up to now is read first: a page that stood
   * still itself may have the holder's answer waiting behind the timer that woke it.
   */
  async #take(): Promise<void> {
    await this.host.drain();
    const took = this.silent && (await this.host.take(this.#holder));
    if (!took && this.silent) this.start();
  }
}

/**
 * Calls `away` when the page is frozen (Page Lifecycle 'freeze') or enters the back/forward cache
 * ('pagehide', persisted), and `back` when it returns ('resume'; 'pageshow', persisted). Returns
 * what stops listening.
 */
export function watchPage(env: Env, away: () => void, back: () => void): () => void {
  const on = (e: Event): void => {
    const cached = (e as PageTransitionEvent).persisted;
    if (e.type === 'freeze' || (e.type === 'pagehide' && cached)) away();
    else if (e.type === 'resume' || (e.type === 'pageshow' && cached)) back();
  };
  const listen = (method: 'addEventListener' | 'removeEventListener'): void => {
    for (const type of ['freeze', 'resume']) env.document?.[method](type, on);
    for (const type of ['pagehide', 'pageshow']) env.window?.[method](type, on);
  };
  listen('addEventListener');
  return () => listen('removeEventListener');
}
