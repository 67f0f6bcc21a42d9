import type { Env } from './env';
import type { ConnectionState } from './state';

/** What the page lifecycle acts on. */
export interface PageHost {
  readonly env: Env;
  readonly state: ConnectionState;
  /** Checks liveness now (the watchdog against the wall clock). */
  check(): void;
  /** Cuts a wait between attempts short. */
  retryNow(): void;
  /** Lets the connection go, keeping the session, until retryNow(). */
  leave(reason: string): void;
}

/** One client's page watch: listening while the client is not closed. */
export interface PageWatch {
  start(): void;
  stop(): void;
  /** Whether the browser says the network is down: no attempt is spent until 'online'. */
  offline(): boolean;
}

/** Page lifecycle handling, as `options.lifecycle`; `realtime-client` gives `pageLifecycle()` by default. */
export interface PageLifecycle {
  attach(host: PageHost): PageWatch;
}

/** Page Lifecycle 'resume' fires on document when a frozen page thaws, its timers having stood still. */
const ON_WINDOW = ['online', 'pageshow', 'pagehide'] as const;
const ON_DOCUMENT = ['visibilitychange', 'resume'] as const;

/**
 * Page and network events, in one place. When the page comes back (visible, thawed) or the
 * network returns, liveness is checked at once, since timers may have been throttled or frozen.
 * 'online', and a page restored from the back/forward cache, cut a backoff wait short; while
 * `navigator.onLine` is false no attempt is spent. A page entering that cache lets its
 * connection go (keeping the session), so the browser can keep the page and the server frees
 * the link; it resumes on the way back.
 */
export const pageLifecycle = (): PageLifecycle => ({ attach: (host) => new Page(host) });

class Page implements PageWatch {
  constructor(private readonly host: PageHost) {}

  start(): void {
    this.#listen('addEventListener');
  }

  stop(): void {
    this.#listen('removeEventListener');
  }

  offline(): boolean {
    return this.host.env.navigator?.onLine === false;
  }

  #listen(method: 'addEventListener' | 'removeEventListener'): void {
    const { window, document } = this.host.env;
    for (const type of ON_WINDOW) window?.[method](type, this.#on);
    for (const type of ON_DOCUMENT) document?.[method](type, this.#on);
  }

  readonly #on = (e: Event): void => {
    const host = this.host;
    // PageTransitionEvent: `persisted` says the back/forward cache is involved.
    const cached = (e as PageTransitionEvent).persisted;
    if (e.type === 'pagehide') {
      if (cached && host.state !== 'closed') host.leave('page frozen');
    } else if (host.state === 'open') host.check();
    else if (e.type === 'online' || (e.type === 'pageshow' && cached)) host.retryNow();
  };
}
