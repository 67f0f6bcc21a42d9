import { isNat } from '../protocol';
import type { Env } from './env';
import { Persisted, type PersistedQueue, type QueueHost } from './persisted-queue';

/** The storages `queue.persist` can name. */
export type PersistKind = 'indexeddb' | 'localStorage';

/**
 * What a page leaves for the next one: the session to resume and every message not yet
 * acknowledged, as [seq, json, key, expiry], and with tab sharing the tab it came from and its
 * number there. `a` is the highest server seq received, `sent` the highest client seq handed to
 * a transport: with both, a resume neither loses nor repeats.
 */
export interface Saved {
  sid?: string;
  key?: string;
  a: number;
  sent: number;
  items: Array<
    | [seq: number, json: string, key: string | null, exp: number | null]
    | [seq: number, json: string, key: string | null, exp: number | null, tab: string, local: number]
  >;
}

/** A persisted queue this page owns: what the previous page saved, and how to save and let go. */
export interface OwnedQueue {
  saved: Saved | undefined;
  /**
   * `undefined` deletes the record. Settles once the next page would read what was saved (the
   * client acknowledges nothing before). localStorage writes before save() returns, so a leaving
   * page can still save.
   */
  save(s: Saved | undefined): Promise<unknown>;
  release(): void;
  /** Settles if another page takes the lock from this one (tab sharing's takeover of a silent holder). */
  readonly lost: Promise<void>;
}

/**
 * Where `queue.persist` keeps the queue: `indexedDBQueue()`, `localStorageQueue()`, or one made by
 * {@link queueStorage}. Like a transport, each is a separate export, so a bundle carries only the
 * storages it uses, and none of the persisted queue's code when it uses none.
 */
export interface QueueStorage {
  readonly name: string;
  /** The client's side of the persisted queue, over this storage. */
  attach(host: QueueHost): PersistedQueue;
}

/** One storage's record of the queue. load() rejects when the storage cannot be used. */
export interface QueueBackend {
  load: () => Promise<unknown>;
  /** `undefined` deletes the record. Settles once a later page would read what was saved. */
  save: (s: Saved | undefined) => Promise<unknown>;
}

/**
 * A storage for `queue.persist` from a backend: `open(key, env)` returns the record for `key`, or
 * a string saying why this environment cannot keep it. The lock that lets one page own the queue
 * and the checks on what is read back come with it.
 */
export const queueStorage = (name: string, open: (key: string, env: Env) => QueueBackend | string): QueueStorage => ({
  name,
  attach: (host) => new Persisted(host, (key, env, steal) => own(key, env, () => open(key, env), steal)),
});

/** How long a page waits for another page to let go of the queue, in ms, before keeping its own in memory. */
export const LOCK_WAIT = 2000;

/**
 * One page at a time owns a queue, by a Web Lock held until it lets go or goes away, so two tabs
 * never send one queue twice. The record is read back untrusted (another version, a hand edit,
 * a full disk): one without this shape is ignored rather than half-applied. `steal` takes the
 * lock from the page holding it (tab sharing, from a holder that stopped answering), which then
 * hears of it through `lost`.
 */
async function own(
  key: string,
  env: Env,
  open: () => QueueBackend | string,
  steal = false,
): Promise<OwnedQueue | null | string> {
  const locks = env.locks;
  if (!locks) return 'Web Locks are not available';
  const record = open();
  if (typeof record === 'string') return record;
  let release!: () => void;
  let stolen!: () => void;
  const lost = new Promise<void>((r) => (stolen = r));
  // Wait a little: a reloaded page's predecessor still holds the lock for a moment after the new
  // page starts. A live tab holds it for good, so the wait is bounded. A steal is granted at once
  // (and Web Locks take no signal with it).
  const abort = new AbortController();
  const timer = steal ? undefined : env.setTimeout(() => abort.abort(), LOCK_WAIT);
  let granted = false;
  const held = await new Promise<boolean>((resolve, reject) => {
    locks
      .request(key, steal ? { steal } : { signal: abort.signal }, () => {
        env.clearTimeout(timer);
        granted = true;
        resolve(true);
        return new Promise<void>((r) => (release = r));
      })
      .catch((e: Error) => {
        // Granted, then rejected: another page stole it.
        if (granted) stolen();
        else if (abort.signal.aborted) resolve(false);
        else reject(e);
      });
  });
  if (!held) return null;
  let saved: unknown;
  try {
    saved = await record.load();
  } catch (e) {
    release();
    return `the storage cannot be used (${String(e)})`;
  }
  return { saved: isSaved(saved) ? saved : undefined, save: record.save, release, lost };
}

function isSaved(saved: unknown): saved is Saved {
  const s = saved as Partial<Record<keyof Saved, unknown>> | null | undefined;
  if (!s || !isNat(s.a) || !isNat(s.sent) || !Array.isArray(s.items)) return false;
  if (s.sid !== undefined && (typeof s.sid !== 'string' || typeof s.key !== 'string')) return false;
  const items = s.items as unknown[];
  const first = (items[0] as unknown[] | undefined)?.[0] as number;
  return items.every((i, n) => Array.isArray(i) && isNat(i[0]) && i[0] === first + n && typeof i[1] === 'string');
}

/** Persists the queue in localStorage: synchronous, so even a page's last moment saves it. */
export const localStorageQueue = (): QueueStorage =>
  queueStorage('localStorage', (key, env) => {
    const ls = env.localStorage;
    if (!ls) return 'localStorage is not available';
    return {
      // async, so that a storage that throws (blocked, quota exceeded) rejects instead
      load: async () => {
        const text = ls.getItem(key);
        try {
          return JSON.parse(text!) as unknown;
        } catch {}
      },
      save: async (s) => (s ? ls.setItem(key, JSON.stringify(s)) : ls.removeItem(key)),
    };
  });

/** Persists the queue in IndexedDB: asynchronous, and not limited to localStorage's few megabytes. */
export const indexedDBQueue = (): QueueStorage =>
  queueStorage('indexeddb', (key, env) => {
    const idb = env.indexedDB;
    if (!idb) return 'indexedDB is not available';
    const done = <T>(req: IDBRequest<T>) =>
      new Promise<T>((resolve, reject) => {
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
      });
    const req = idb.open('realtime-client', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('queues');
    const db = done(req);
    // Read-write transactions on one store run in the order they were created: the last save wins.
    const store = (mode: IDBTransactionMode) => db.then((d) => d.transaction('queues', mode).objectStore('queues'));
    return {
      load: () => store('readonly').then((s) => done(s.get(key))),
      // Settles when the transaction commits, not when its request succeeds: only then would the
      // next page read it (the client holds acks until then).
      save: (s) =>
        store('readwrite').then((o) => {
          const t = o.transaction;
          if (s) o.put(s, key);
          else o.delete(key);
          return new Promise((resolve, reject) => {
            t.oncomplete = resolve;
            t.onabort = () => reject(t.error ?? new Error('IndexedDB transaction aborted'));
          });
        }),
    };
  });
