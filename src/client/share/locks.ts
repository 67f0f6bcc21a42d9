import type { Env } from '../env';
import type { TabMessage } from './channel';
import { tabLock } from './followers';

/** The channel of the tabs sharing `url`'s connection, and the lock its holder holds: one per origin and URL. */
export const shareName = (url: string): string => `realtime-client share ${url}`;

/** The longest a tab waits for the channel to be read up to now, in ms. */
const DRAIN_WAIT = 200;

/** What a tab's locks need from it. */
export interface LocksHost {
  readonly tab: string;
  readonly url: string;
  readonly env: Env;
  /** The leader lock is granted to `ballot`'s request (taken from a silent holder if `stole`): lead, unless it is aborted meanwhile. */
  granted(ballot: AbortController, stole: boolean): void;
  /** Another tab took the leader lock granted to `ballot`'s request. */
  stolen(ballot: AbortController): void;
}

/**
 * One tab's Web Locks: its tab lock, held while its client runs (free means the tab is gone);
 * its request for the leader lock (a ballot, which aborting withdraws); and the locks it took
 * the leader lock with from a silent holder.
 */
export class TabLocks {
  /** Settles once this tab holds its tab lock. */
  held: Promise<void> = Promise.resolve();
  #ballot: AbortController | undefined;
  #tab: AbortController | undefined;
  /** What lets go of the tab lock, and of the leader lock (with the locks that took it). */
  #letGo: Array<() => void> = [];
  #resign: Array<() => void> = [];

  constructor(private readonly host: LocksHost) {}

  get ballot(): AbortController | undefined {
    return this.#ballot;
  }

  /** Takes this tab's lock, until end(). */
  join(): void {
    const { env, url, tab } = this.host;
    const abort = (this.#tab = new AbortController());
    this.held = new Promise<void>((held) => {
      env
        .locks!.request(tabLock(url, tab), { signal: abort.signal }, () => this.#hold(this.#letGo, held))
        .catch(() => {});
    });
  }

  /**
   * Queues for the leader lock, or (`steal`) takes it from the tab holding it. The request of a
   * holder whose lock was taken rejects: it learns it no longer holds the connection.
   */
  elect(steal = false): void {
    const { env, url } = this.host;
    const ballot = (this.#ballot = new AbortController());
    // A steal cannot be aborted (Web Locks refuse a signal with it); it is granted at once.
    const options: LockOptions = steal ? { steal } : { signal: ballot.signal };
    env
      .locks!.request(shareName(url), options, () =>
        ballot.signal.aborted ? undefined : this.#hold(this.#resign, () => this.host.granted(ballot, steal)),
      )
      .catch(() => {
        if (!ballot.signal.aborted) this.host.stolen(ballot);
      });
  }

  /**
   * Takes the leader lock from `holder`, which said nothing within the bound, unless another tab
   * is doing so: a lock per silent holder says which one. Resolves whether this tab took it
   * (`wanted` is asked again once the lock says it may).
   */
  takeFrom(holder: string | undefined, wanted: () => boolean): Promise<boolean> {
    const { env, url } = this.host;
    const ballot = this.#ballot;
    return new Promise<boolean>((took) => {
      env
        .locks!.request(`${shareName(url)} taken from ${holder ?? 'a tab'}`, { ifAvailable: true }, (lock) => {
          if (!lock || ballot !== this.#ballot || !wanted()) return took(false);
          ballot?.abort();
          this.elect(true);
          took(true);
          return this.#hold(this.#resign, () => {});
        })
        .catch(() => took(false));
    });
  }

  /** Withdraws the request for the leader lock, or lets go of it. */
  withdraw(): void {
    this.#ballot?.abort();
    this.#ballot = undefined;
    for (const release of this.#resign.splice(0)) release();
  }

  /** The client stopped: every lock goes. */
  end(): void {
    this.withdraw();
    this.#tab?.abort();
    this.#tab = undefined;
    for (const release of this.#letGo.splice(0)) release();
  }

  /** Holds a lock until one of `releases` is called. */
  #hold(releases: Array<() => void>, granted: () => void): Promise<void> {
    return new Promise<void>((release) => {
      releases.push(release);
      granted();
    });
  }
}

/**
 * Settles once this tab has read everything posted on the channel `name` before now: a message it
 * posts now comes back (to a second channel of its own) after them; a bounded wait in case it
 * never does.
 */
export function readUpToNow(env: Env, name: string, tab: string, post: (m: TabMessage) => void): Promise<void> {
  const id = `${tab}-${env.now()}`;
  const probe = new env.BroadcastChannel!(name);
  return new Promise<void>((done) => {
    const timer = env.setTimeout(done, DRAIN_WAIT);
    probe.onmessage = (e: MessageEvent<TabMessage>) => {
      if (e.data.t !== 'drain' || e.data.id !== id) return;
      env.clearTimeout(timer);
      done();
    };
    post({ t: 'drain', id });
  }).finally(() => probe.close());
}
