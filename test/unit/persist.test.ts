// @vitest-environment happy-dom
// queue.persist: what a page queued survives a reload and the next load delivers it once. A
// "page" here is a client with its own env; `reload()` does what the browser does to a page that
// goes away (pagehide, its sockets closed, its Web Locks released, its timers never run again)
// and starts the next page on the same storage.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { localStorageQueue, RealtimeClient, type ClientOptions, type RealtimeError } from '../../src/index';
import { LOCK_WAIT } from '../../src/client/persist';
import { freshUrl, MockV1, settle, testEnv, within } from './helpers';

let server: MockV1;
let pages: Page[];

beforeEach(() => {
  vi.useFakeTimers();
  server = new MockV1(freshUrl());
  pages = [];
});

afterEach(() => {
  for (const p of pages) if (p.alive) p.client.close();
  server.stop();
  vi.useRealTimers();
});

/**
 * Web Locks shared by the pages of one test, as the browser's lock manager: a request waits until
 * the holder lets go or goes away, or until its signal aborts; `steal` takes the lock at once,
 * and the holder's request rejects with an AbortError.
 */
function lockManager() {
  const held = new Map<string, Page>();
  const steals = new Map<string, (e: DOMException) => void>();
  const waiting = new Map<string, Array<() => void>>();
  const free = (name: string) => {
    held.delete(name);
    waiting.get(name)?.shift()?.();
  };
  return {
    held,
    /** The page is gone: its locks go with it. */
    drop(page: Page) {
      for (const [name, p] of held) if (p === page) free(name);
    },
    for: (page: Page) => ({
      async request(name: string, opts: LockOptions, cb: (lock: Lock | null) => unknown) {
        if (held.has(name) && opts.ifAvailable) return cb(null);
        if (held.has(name) && opts.steal) steals.get(name)!(new DOMException('stolen', 'AbortError'));
        else if (held.has(name))
          await new Promise<void>((granted, refused) => {
            const queue = waiting.get(name) ?? waiting.set(name, []).get(name)!;
            queue.push(granted);
            opts.signal?.addEventListener('abort', () => {
              queue.splice(queue.indexOf(granted), 1);
              refused(new DOMException('aborted', 'AbortError'));
            });
          });
        held.set(name, page);
        const stolen = new Promise<never>((_, reject) => steals.set(name, reject));
        try {
          return await Promise.race([cb({ name, mode: 'exclusive' }), stolen]);
        } finally {
          if (held.get(name) === page) free(name);
        }
      },
    }),
  };
}

interface Page {
  client: RealtimeClient;
  env: ReturnType<typeof testEnv>;
  errors: RealtimeError[];
  alive: boolean;
}

/** One storage and one lock manager, as the tabs of one browser profile share them. */
function browser() {
  const store = new Map<string, string>();
  const localStorage = {
    getItem: (k: string) => store.get(k) ?? null,
    setItem: (k: string, v: string) => void store.set(k, v),
    removeItem: (k: string) => void store.delete(k),
  };
  const locks = lockManager();
  const open = (options: ClientOptions = {}): Page => {
    const env = testEnv();
    const page = { env, errors: [], alive: true } as unknown as Page;
    // A page that has gone runs nothing more.
    const setTimeout = (fn: () => void, ms: number) => globalThis.setTimeout(() => page.alive && fn(), ms);
    page.client = new RealtimeClient(server.url, {
      transports: ['websocket'],
      queue: { persist: 'localStorage' },
      reconnect: { initialDelay: 100 },
      ...options,
      env: { ...env, localStorage, locks: locks.for(page) as unknown as LockManager, setTimeout, ...options.env },
    });
    page.client.on('error', (e) => page.errors.push(e));
    pages.push(page);
    return page;
  };
  /** The page goes away as a reload takes it: pagehide, then its connections and locks are gone. */
  const leave = (page: Page, lockLingers = false) => {
    page.env.window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: false }));
    page.alive = false;
    if (!lockLingers) locks.drop(page);
    if (page.client.state === 'open') server.drop(1001);
  };
  /** The page opens, then loses the network: from now on what it sends waits in the queue. */
  const openOffline = async (options?: ClientOptions): Promise<Page> => {
    const page = open(options);
    await settle();
    page.env.navigator.onLine = false;
    server.drop();
    await settle();
    return page;
  };
  const record = () => {
    const v = [...store.entries()].find(([k]) => k.startsWith('realtime-client queue'));
    return v && (JSON.parse(v[1]) as unknown);
  };
  return {
    store,
    locks,
    open,
    openOffline,
    leave,
    record,
    reload: (page: Page, options?: ClientOptions) => {
      leave(page);
      return open(options);
    },
  };
}

/**
 * IndexedDB as the queue uses it, shared by the pages of one browser, with writes as slow as the
 * test wants: a read-write transaction's requests succeed at once, but it commits (and fires
 * 'complete') only at commit(), in the order begun. lose() drops every transaction not yet
 * committed, as a page unloading in the middle of its writes does.
 */
function fakeIndexedDB() {
  const disk = new Map<IDBValidKey, unknown>();
  let begun: Array<{ tx: { oncomplete?: () => void }; writes: Array<() => void> }> = [];
  const later = (fn: () => void) => void Promise.resolve().then(fn);
  const request = (result: () => unknown) => {
    const req: { result?: unknown; onsuccess?: () => void } = {};
    later(() => {
      req.result = result();
      req.onsuccess?.();
    });
    return req;
  };
  const db = {
    createObjectStore() {},
    transaction(_store: string, mode: IDBTransactionMode) {
      const tx: { oncomplete?: () => void; objectStore(): unknown } = {
        objectStore: () => ({
          transaction: tx,
          get: (k: IDBValidKey) => request(() => structuredClone(disk.get(k))),
          put: (v: unknown, k: IDBValidKey) => {
            writes.push(() => disk.set(k, structuredClone(v)));
            return request(() => k);
          },
          delete: (k: IDBValidKey) => {
            writes.push(() => disk.delete(k));
            return request(() => undefined);
          },
        }),
      };
      const writes: Array<() => void> = [];
      if (mode === 'readwrite') begun.push({ tx, writes });
      else later(() => tx.oncomplete?.());
      return tx;
    },
  };
  return {
    disk,
    indexedDB: {
      open: () => {
        const req: { result: unknown; onupgradeneeded?: () => void; onsuccess?: () => void } = { result: db };
        later(() => {
          req.onupgradeneeded?.();
          req.onsuccess?.();
        });
        return req;
      },
    } as unknown as IDBFactory,
    /** Commits every read-write transaction begun so far. */
    commit() {
      for (const { tx, writes } of begun.splice(0)) {
        writes.forEach((w) => w());
        tx.oncomplete?.();
      }
    },
    lose() {
      begun = [];
    },
  };
}

/** Sends without awaiting: a page that goes away never sees these promises settle. */
const fire = (c: RealtimeClient, ...data: unknown[]) => {
  for (const d of data) void c.send(d).catch(() => {});
};

describe('queue.persist', () => {
  it('messages sent while offline survive a reload: the next page resumes the session and delivers each once, in order', async () => {
    const b = browser();
    const first = b.open();
    await settle();
    await within(first.client.send('before'));
    first.env.navigator.onLine = false;
    server.drop();
    await settle();
    fire(first.client, 'a', { b: 2 }, 'c');
    await settle();
    expect(server.messages).toEqual(['before']);
    expect(b.record()).toMatchObject({
      sid: 'sid-1',
      key: 'key-1',
      items: [
        [2, '"a"', null, null],
        [3, '{"b":2}', null, null],
        [4, '"c"', null, null],
      ],
    });

    const next = b.reload(first);
    const opens: unknown[] = [];
    next.client.on('open', (o) => opens.push(o));
    await settle(50);
    expect(server.hellos.at(-1)).toMatchObject({ sid: 'sid-1', key: 'key-1' });
    expect(opens).toEqual([{ transport: 'websocket', resumed: true }]);
    expect(server.messages).toEqual(['before', 'a', { b: 2 }, 'c']);
    // All acknowledged: nothing is left for a later page to send again.
    expect(b.record()).toBeUndefined();
    expect(next.errors).toEqual([]);
  });

  it("a reloaded page whose predecessor's lock lingers a moment waits for it, then adopts the queue", async () => {
    const b = browser();
    const first = await b.openOffline();
    fire(first.client, 'queued');
    b.leave(first, true);
    const next = b.open();
    await settle(300);
    expect(next.client.state).toBe('connecting');
    b.locks.drop(first); // the old document is torn down
    await settle(50);
    expect(server.messages).toEqual(['queued']);
    expect(next.errors).toEqual([]);
  });

  it('messages sent before the next page read the saved queue go after the saved ones', async () => {
    const b = browser();
    const first = await b.openOffline();
    fire(first.client, 'old 1', 'old 2');
    const next = b.reload(first);
    const fresh = next.client.send('new'); // in the constructor's task: before the saved queue is read
    await within(fresh);
    expect(server.messages).toEqual(['old 1', 'old 2', 'new']);
  });

  it('a message the server received but had not acknowledged at the reload is not delivered twice', async () => {
    const b = browser();
    const first = b.open();
    await settle();
    server.autoAck = false;
    fire(first.client, 'in flight');
    await settle();
    expect(server.messages).toEqual(['in flight']);
    expect(b.record()).toMatchObject({ sent: 1, items: [[1, '"in flight"', null, null]] });
    server.autoAck = true;
    const next = b.reload(first);
    await settle(50);
    expect(next.client.state).toBe('open');
    await within(next.client.send('after'));
    expect(server.messages).toEqual(['in flight', 'after']);
    expect(server.frames.filter((f) => f.t === 'msg').map((f) => [f.s, f.d])).toEqual([
      [1, ['in flight']],
      [2, ['after']],
    ]);
  });

  it('the next page resumes from what the earlier page received, acknowledged or not: nothing is replayed to it', async () => {
    const b = browser();
    const first = b.open();
    const got: unknown[] = [];
    first.client.on('message', (m) => got.push(m));
    await settle();
    server.autoAck = false;
    fire(first.client, 'pending'); // a queue to save
    await settle();
    expect(b.record()).toMatchObject({ a: 0 });
    server.push('one');
    await settle(100); // the ack of 'one' goes out: the server may forget it, so the record says so
    expect(b.record()).toMatchObject({ a: 1 });
    server.push('two');
    await settle(10); // received, not acknowledged yet
    expect(got).toEqual(['one', 'two']);
    expect(b.record()).toMatchObject({ a: 1 });
    const next = b.reload(first); // pagehide saves the latest
    await settle(50);
    expect(server.hellos.at(-1)).toMatchObject({ sid: 'sid-1', a: 2 });
    expect(next.client.state).toBe('open');
  });

  describe('with IndexedDB, whose last writes an unloading page can lose', () => {
    let idb: ReturnType<typeof fakeIndexedDB>;
    let options: ClientOptions;
    beforeEach(() => {
      idb = fakeIndexedDB();
      options = { queue: { persist: 'indexeddb' }, env: { indexedDB: idb.indexedDB } };
    });
    const record = () => idb.disk.get(`realtime-client queue ${server.url}`) as { a: number } | undefined;
    // The highest `a` the server was told (hello, ack, pong, or on a msg frame): it may drop every
    // message up to it, and refuses a resume whose hello.a is lower (docs/protocol.md §5).
    const told = () =>
      Math.max(0, ...server.frames.map((f) => ('a' in f ? f.a : undefined)).filter((a) => typeof a === 'number'));
    /** A page with one message awaiting its ack, saved: record { a: 0, items: [pending] }. */
    const withSavedQueue = async (b: ReturnType<typeof browser>) => {
      const page = b.open(options);
      await settle();
      expect(page.client.state).toBe('open');
      server.autoAck = false;
      fire(page.client, 'pending');
      await settle();
      idb.commit();
      await settle();
      expect(record()).toMatchObject({ a: 0, items: [[1, '"pending"', null, null]] });
      return page;
    };

    it('no ack reaches the server before the write that saves it has committed, so a write lost at unload never leaves the next page resuming from below an ack', async () => {
      const b = browser();
      const first = await withSavedQueue(b);
      server.push('one', 'two');
      await settle(100); // past ackDelay: an ack is due, and a write of a: 2 has begun
      expect(record()).toMatchObject({ a: 0 });
      expect(told(), 'acknowledged before the write holding it committed').toBe(0);
      idb.commit(); // the write completes: the held ack goes out at once
      await settle();
      expect(record()).toMatchObject({ a: 2 });
      expect(told()).toBe(2);

      server.push('three');
      await settle(100); // another ack is due; its write has not committed when the page goes
      b.leave(first);
      idb.lose();
      expect(told()).toBe(2);
      const next = b.open(options);
      await settle();
      expect(server.hellos.at(-1)).toMatchObject({ sid: 'sid-1', a: 2 });
      expect(next.client.state).toBe('open');
      expect(next.errors).toEqual([]);
    });

    it('once the queue is empty, an ack waits until the record is deleted: a deletion lost at unload leaves a record the session still resumes from', async () => {
      const b = browser();
      const first = await withSavedQueue(b);
      server.push('one', 'two');
      server.ack(); // 'pending' is acknowledged: the queue is empty, and the record's deletion begins
      await settle(100); // the ack of 'one' and 'two' is due
      expect(told(), 'acknowledged while the old record could still be the one the next page reads').toBe(0);
      b.leave(first);
      idb.lose();
      expect(record()).toMatchObject({ a: 0 });
      const next = b.open(options);
      await settle();
      expect(server.hellos.at(-1)).toMatchObject({ sid: 'sid-1', a: 0 });
      expect(next.client.state).toBe('open');
      // The stale record's message is one the server has: welcome.a acknowledges it, nothing is lost.
      expect(next.errors).toEqual([]);
      expect(server.messages).toEqual(['pending']);
    });
  });

  it('a save that completes while a new connection is still opening sends no ack on it: the hello carries it', async () => {
    const b = browser();
    const page = b.open();
    await settle();
    server.autoAck = false;
    fire(page.client, 'pending');
    await settle();
    server.push('one');
    await settle(); // received, its ack waiting out ackDelay
    let due = Infinity;
    page.client.on('reconnecting', (r) => (due = Date.now() + r.delay));
    server.drop();
    await settle();
    expect(page.client.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(due - Date.now()); // the retry has begun: its WebSocket is connecting
    const escaped: unknown[] = [];
    const onEscape = (e: unknown) => escaped.push(e);
    process.on('unhandledRejection', onEscape);
    try {
      fire(page.client, 'while connecting'); // its save completes before the socket opens
      await settle(50);
    } finally {
      process.off('unhandledRejection', onEscape);
    }
    expect(escaped).toEqual([]);
    expect(page.client.state).toBe('open');
    expect(server.hellos.at(-1)).toMatchObject({ sid: 'sid-1', a: 1 });
  });

  it("a saved queue older than the last sends (an IndexedDB write lost at unload): what the server has is acknowledged, this page's own messages go after it, no protocol error", async () => {
    const b = browser();
    const first = b.open();
    await settle();
    await within(Promise.all(['a', 'b', 'c'].map((m) => first.client.send(m))));
    b.leave(first);
    // As if the last save the old page managed was right after it sent 'a'.
    b.store.set(
      `realtime-client queue ${server.url}`,
      JSON.stringify({ sid: 'sid-1', key: 'key-1', a: 0, sent: 1, items: [[1, '"a"', null, null]] }),
    );
    const next = b.open();
    const own = next.client.send('own'); // queued before the saved queue is read
    await within(own);
    expect(server.messages).toEqual(['a', 'b', 'c', 'own']);
    expect(next.errors).toEqual([]);
    await settle(100);
    expect(next.client.state).toBe('open');
  });

  it('a second tab on the same URL cannot take a queue another page owns: after waiting LOCK_WAIT for it, it keeps its own in memory', async () => {
    const b = browser();
    const first = await b.openOffline();
    fire(first.client, 'tab 1');
    const second = b.open();
    await settle(LOCK_WAIT - 100);
    expect(second.client.state, 'waiting for the lock').toBe('connecting');
    await settle(200);
    expect(second.client.state).toBe('open');
    await within(second.client.send('tab 2'));
    expect(server.messages).toEqual(['tab 2']);
    expect(b.record()).toMatchObject({ items: [[1, '"tab 1"', null, null]] });
  });

  it('a page whose queue lock another page steals (tab sharing, from a silent holder) saves nothing more over it', async () => {
    const b = browser();
    const first = await b.openOffline();
    fire(first.client, 'before');
    await settle();
    expect(b.record()).toMatchObject({ items: [[1, '"before"', null, null]] });
    const key = [...b.store.keys()].find((k) => k.startsWith('realtime-client queue'))!;
    const thief = { alive: true } as Page;
    let release!: () => void;
    void b.locks.for(thief).request(key, { steal: true }, () => new Promise<void>((r) => (release = r)));
    await settle();
    expect(b.locks.held.get(key)).toBe(thief);
    b.store.set(key, 'the new owner wrote this');
    fire(first.client, 'after');
    first.env.window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: false }));
    await settle();
    expect(b.store.get(key)).toBe('the new owner wrote this');
    release();
  });

  it('close() rejects what is queued and deletes the record, so no later page sends it', async () => {
    const b = browser();
    const first = await b.openOffline();
    const queued = first.client.send('dropped').catch((e: unknown) => e);
    await settle();
    expect(b.record()).toBeDefined();
    first.client.close();
    expect(await queued).toMatchObject({ code: 'closed' });
    expect(b.record()).toBeUndefined();
    const next = b.open(); // the lock was released: this page owns the (empty) queue
    await settle(50);
    await within(next.client.send('fresh'));
    expect(server.messages).toEqual(['fresh']);
  });

  it('close() and connect() again while the saved queue is being taken over: the new connection still gets it', async () => {
    const b = browser();
    const first = await b.openOffline();
    fire(first.client, 'saved');
    const next = b.reload(first);
    await Promise.resolve(); // the taking over has begun
    next.client.close();
    next.client.connect();
    await settle(50);
    expect(server.messages).toEqual(['saved']);
    expect(next.errors).toEqual([]);
  });

  it('a ttl that ran out while the page was away: the next page reports expired with the data and sends the rest', async () => {
    const b = browser();
    const first = await b.openOffline();
    fire(first.client, 'kept');
    first.client.send('stale', { ttl: 1000 }).catch(() => {});
    first.client.send({ x: 1 }, { key: 'cursor' }).catch(() => {});
    b.leave(first);
    await vi.advanceTimersByTimeAsync(2000);
    const next = b.open();
    await settle(50);
    expect(next.errors.map((e) => [e.code, e.data])).toEqual([['expired', 'stale']]);
    expect(server.messages).toEqual(['kept', { x: 1 }]);
  });

  it("a 'latest value wins' key still replaces a saved message after the reload", async () => {
    const b = browser();
    const first = await b.openOffline();
    first.client.send({ x: 1 }, { key: 'cursor' }).catch(() => {});
    const next = b.reload(first);
    await settle(1); // the saved queue is read; the connection is not open yet
    expect(next.client.state).toBe('connecting');
    const last = next.client.send({ x: 2 }, { key: 'cursor' });
    await within(last);
    expect(server.messages).toEqual([{ x: 2 }]);
  });

  it('a record that is not one of ours (wrong shape, or not JSON) is ignored: the client starts clean and overwrites it', async () => {
    const b = browser();
    for (const junk of ['{"a":-1,"items":"no"}', 'not json{']) {
      b.store.set(`realtime-client queue ${server.url}`, junk);
      const page = b.open();
      await settle(50);
      expect(page.client.state).toBe('open');
      page.env.navigator.onLine = false;
      server.drop();
      await settle();
      fire(page.client, junk);
      await settle();
      expect(b.record()).toMatchObject({ items: [[1, JSON.stringify(junk), null, null]] });
      expect(page.errors).toEqual([]);
      page.client.close();
    }
  });

  it("a storage object (what 'realtime-client/core' takes instead of a name) persists like its name", async () => {
    const b = browser();
    const first = b.open({ queue: { persist: localStorageQueue() } });
    await settle();
    first.env.navigator.onLine = false;
    server.drop();
    await settle();
    fire(first.client, 'core');
    b.reload(first);
    await settle(50);
    expect(server.messages).toEqual(['core']);
  });

  it('without Web Locks (or the chosen storage) persist says so with an unsupported error and works in memory', async () => {
    const b = browser();
    const page = b.open({ env: { locks: undefined } });
    await settle(50);
    expect(page.errors.map((e) => [e.code, e.message])).toEqual([
      ['unsupported', 'queue.persist: Web Locks are not available; the queue is kept in memory only'],
    ]);
    await within(page.client.send('in memory'));
    const noIdb = b.open({ queue: { persist: 'indexeddb' }, env: { indexedDB: undefined } });
    await settle(50);
    expect(noIdb.errors.map((e) => e.message)).toEqual([
      'queue.persist: indexedDB is not available; the queue is kept in memory only',
    ]);
  });

  it('an unknown persist value is refused with invalid-argument', () => {
    expect(() => new RealtimeClient(server.url, { queue: { persist: 'cookies' as never }, env: testEnv() })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' }),
    );
  });
});
