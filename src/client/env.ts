/** A target for DOM-style events: window, document, or a test double. */
export interface EventTargetLike {
  addEventListener(type: string, listener: (e: Event) => void): void;
  removeEventListener(type: string, listener: (e: Event) => void): void;
}

/**
 * Every platform global the client touches. Each defaults to globalThis, so workers, Node and
 * tests can supply their own.
 */
export interface Env {
  /** @default globalThis.WebSocket */
  WebSocket: typeof WebSocket | undefined;
  /** @default globalThis.EventSource */
  EventSource: typeof EventSource | undefined;
  /** @default globalThis.fetch */
  fetch: typeof fetch | undefined;
  /** @default globalThis.setTimeout */
  setTimeout: (fn: () => void, ms: number) => unknown;
  /** @default globalThis.clearTimeout */
  clearTimeout: (id: unknown) => void;
  /** Wall-clock time in ms. @default Date.now */
  now: () => number;
  /** Uniform in [0, 1), for backoff jitter. @default Math.random */
  random: () => number;
  /** Receives 'online', 'pageshow' and 'pagehide'. @default globalThis.window */
  window: EventTargetLike | undefined;
  /** Receives 'visibilitychange' and 'resume'. @default globalThis.document */
  document: EventTargetLike | undefined;
  /** `onLine === false` pauses reconnect attempts until 'online'. @default globalThis.navigator */
  navigator: { onLine?: boolean } | undefined;
  /** Base for relative URLs. @default globalThis.location?.href */
  baseUrl: string | undefined;
  /** Remembers which transport worked, per URL, across page loads. @default globalThis.sessionStorage */
  storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | undefined;
  /** Keeps the queue across page loads with `queue.persist: 'localStorage'`. @default globalThis.localStorage */
  localStorage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | undefined;
  /** Keeps the queue across page loads with `queue.persist: 'indexeddb'`. @default globalThis.indexedDB */
  indexedDB: IDBFactory | undefined;
  /** Web Locks: one page at a time owns a persisted queue, or holds a shared connection. @default globalThis.navigator.locks */
  locks: Pick<LockManager, 'request'> | undefined;
  /** Carries a shared connection between tabs (`share`). @default globalThis.BroadcastChannel */
  BroadcastChannel: typeof BroadcastChannel | undefined;
}

/** What the client reads from globalThis: all but the timers may be missing (workers, Node, old browsers). */
type Globals = Pick<typeof globalThis, 'setTimeout' | 'clearTimeout'> &
  Partial<
    Pick<
      typeof globalThis,
      | 'WebSocket'
      | 'EventSource'
      | 'fetch'
      | 'addEventListener'
      | 'removeEventListener'
      | 'document'
      | 'navigator'
      | 'location'
      | 'sessionStorage'
      | 'localStorage'
      | 'indexedDB'
      | 'BroadcastChannel'
    >
  >;

export function resolveEnv(given: Partial<Env> = {}): Env {
  const g = globalThis as Globals;
  // Wrapped so that it is never called with `env` as `this` (fetch throws "Illegal invocation").
  const fetch = g.fetch;
  return {
    WebSocket: g.WebSocket,
    EventSource: g.EventSource,
    fetch: fetch && ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init)),
    setTimeout: (fn, ms) => g.setTimeout(fn, ms),
    clearTimeout: (id) => g.clearTimeout(id as ReturnType<typeof setTimeout>),
    now: () => Date.now(),
    random: Math.random,
    window: typeof g.addEventListener === 'function' ? (g as EventTargetLike) : undefined,
    document: g.document,
    navigator: g.navigator,
    baseUrl: g.location?.href,
    // Reading storage throws where it is blocked (sandboxed frames, some privacy modes).
    storage: read(() => g.sessionStorage),
    localStorage: read(() => g.localStorage),
    indexedDB: read(() => g.indexedDB),
    locks: g.navigator?.locks,
    BroadcastChannel: g.BroadcastChannel,
    ...given,
  };
}

function read<T>(get: () => T): T | undefined {
  try {
    return get();
  } catch {}
}
