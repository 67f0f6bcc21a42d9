// @vitest-environment happy-dom
// share: tabSharing(). A "tab" here is a client with its own env; the tabs of one test share a
// fake BroadcastChannel bus and a fake lock manager, as the tabs of one browser profile share the
// real ones. kill() does what the browser does to a tab that crashes or closes: its timers and
// channels stop, its locks go, its connection drops.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealtimeClient, type ClientOptions, type RealtimeError } from '../../src/index';
import { tabSharing } from '../../src/share';
import { HolderWatch, holderBound } from '../../src/client/share/watch';
import { resolveEnv } from '../../src/client/env';
import { WebSocket as MockWebSocket } from 'mock-socket';
import type { ResumeState, Transport, TransportHandlers } from '../../src/client/transports/types';
import { freshUrl, MockV1, settle, testEnv, within } from './helpers';

let server: MockV1;
let tabs: Tab[];

interface Tab {
  client: RealtimeClient;
  env: ReturnType<typeof testEnv>;
  received: unknown[];
  errors: RealtimeError[];
  alive: boolean;
  channels: FakeChannel[];
  /** While busy: what its channels received, in order, not yet read. */
  held?: Array<[FakeChannel, unknown]> | undefined;
  /** While hung: what it would have run (timers, the news that its lock was taken), in order. */
  hung?: Array<() => void> | undefined;
}

/** One BroadcastChannel bus: a message reaches every other open channel of its name, in order, in a later task. */
class FakeChannel {
  static open = new Set<FakeChannel>();
  onmessage: ((e: MessageEvent) => void) | null = null;
  closed = false;

  /** Its tab is gone: what its code still does reaches no one. */
  dead = false;
  constructor(
    readonly name: string,
    readonly tab?: Tab,
  ) {
    FakeChannel.open.add(this);
    tab?.channels.push(this);
  }
  postMessage(data: unknown): void {
    if (this.closed && !this.dead) throw new DOMException('closed', 'InvalidStateError');
    if (this.dead) return;
    const copy = structuredClone(data);
    for (const c of FakeChannel.open) if (c !== this && c.name === this.name) setTimeout(() => c.deliver(copy), 0);
  }
  deliver(data: unknown): void {
    if (this.tab?.held) this.tab.held.push([this, data]);
    else if (!this.closed) this.onmessage?.({ data } as MessageEvent);
  }
  close(): void {
    this.closed = true;
    FakeChannel.open.delete(this);
  }
}

/**
 * Web Locks of one profile: a request waits until the holder lets go or its tab goes, or its
 * signal aborts. `ifAvailable` gets null at once when the lock is held; `steal` takes it from its
 * holder, whose request then rejects with an AbortError (a hung tab hears of it when it wakes).
 */
class FakeLocks {
  readonly held = new Map<string, { tab: Tab; stolen: (e: DOMException) => void }>();
  readonly #queue = new Map<string, Array<() => void>>();
  #free(name: string): void {
    this.held.delete(name);
    this.#queue.get(name)?.shift()?.();
  }
  /** The tab is gone: its locks go with it, and none of its requests will be granted. */
  drop(tab: Tab): void {
    for (const [name, h] of this.held) if (h.tab === tab) this.#free(name);
  }
  holder(name: string): Tab | undefined {
    return this.held.get(name)?.tab;
  }
  for(tab: Tab): Pick<LockManager, 'request'> {
    const request = async (name: string, opts: LockOptions, cb: (lock: Lock | null) => unknown) => {
      const holder = this.held.get(name);
      if (opts.steal && holder) {
        this.held.delete(name);
        const news = () => holder.stolen(new DOMException('stolen', 'AbortError'));
        if (holder.tab.hung) holder.tab.hung.push(news);
        else news();
      } else if (opts.ifAvailable && holder) return await cb(null);
      while (!opts.steal && (this.held.has(name) || !tab.alive)) {
        await new Promise<void>((granted, refused) => {
          const queue = this.#queue.get(name) ?? this.#queue.set(name, []).get(name)!;
          queue.push(granted);
          // Aborting a request already granted does nothing (Web Locks: the signal only withdraws a wait).
          opts.signal?.addEventListener('abort', () => {
            const waiting = queue.indexOf(granted);
            if (waiting < 0) return;
            queue.splice(waiting, 1);
            refused(new DOMException('aborted', 'AbortError'));
          });
        });
        if (!tab.alive) return; // a dead tab's request is never granted
      }
      let stolen!: (e: DOMException) => void;
      const taken = new Promise<never>((_, reject) => (stolen = reject));
      const entry = { tab, stolen };
      this.held.set(name, entry);
      try {
        return await Promise.race([cb({ name, mode: 'exclusive' }), taken]);
      } finally {
        if (this.held.get(name) === entry) this.#free(name);
      }
    };
    return { request } as Pick<LockManager, 'request'>;
  }
}

let locks: FakeLocks;

beforeEach(() => {
  vi.useFakeTimers();
  server = new MockV1(freshUrl());
  tabs = [];
  locks = new FakeLocks();
  FakeChannel.open.clear();
});

afterEach(() => {
  for (const t of tabs) if (t.alive) t.client.close();
  server.stop();
  vi.useRealTimers();
});

function open(options: ClientOptions = {}): Tab {
  const tab = { received: [], errors: [], alive: true, channels: [], env: testEnv() } as unknown as Tab;
  // A tab that has gone runs nothing more; a hung one, nothing until it wakes.
  const setTimeout = (fn: () => void, ms: number) =>
    globalThis.setTimeout(() => {
      if (tab.hung) tab.hung.push(() => tab.alive && fn());
      else if (tab.alive) fn();
    }, ms);
  tab.client = new RealtimeClient(server.url, {
    transports: ['websocket'],
    reconnect: { initialDelay: 100 },
    share: tabSharing(),
    ...options,
    env: {
      ...tab.env,
      locks: locks.for(tab),
      BroadcastChannel: class extends FakeChannel {
        constructor(name: string) {
          super(name, tab);
        }
      } as unknown as typeof BroadcastChannel,
      setTimeout,
      ...options.env,
    },
  });
  tab.client.on('message', (m) => tab.received.push(m));
  tab.client.on('error', (e) => tab.errors.push(e));
  tabs.push(tab);
  return tab;
}

/** The tab crashes or closes: its timers, channels and locks go, and its connection drops. */
function kill(tab: Tab, connected: boolean): void {
  tab.alive = false;
  for (const c of tab.channels) {
    c.dead = true;
    c.close();
  }
  locks.drop(tab);
  if (connected) server.drop(1006);
}

/**
 * The tab's main thread stands still (hung, or frozen without a word) until the returned function
 * wakes it: it reads nothing and runs no timer. On waking it first hears that its lock was taken,
 * as the browser's lock manager tells it, then runs what was due and reads its channels.
 */
function hang(tab: Tab): () => Promise<void> {
  tab.hung = [];
  const read = busy(tab);
  return async () => {
    const due = tab.hung!;
    tab.hung = undefined;
    for (const run of due) {
      run();
      await settle(0);
    }
    read();
  };
}

/**
 * The page is frozen, with the Page Lifecycle 'freeze' event, or enters the back/forward cache
 * ('pagehide', persisted): it runs nothing until the returned function brings it back ('resume',
 * or 'pageshow', persisted).
 */
function freeze(tab: Tab, how: 'freeze' | 'bfcache'): () => Promise<void> {
  const page = (type: string) => Object.assign(new Event(type), { persisted: true });
  if (how === 'freeze') tab.env.document.dispatchEvent(new Event('freeze'));
  else tab.env.window.dispatchEvent(page('pagehide'));
  const wake = hang(tab);
  return async () => {
    await wake();
    if (how === 'freeze') tab.env.document.dispatchEvent(new Event('resume'));
    else tab.env.window.dispatchEvent(page('pageshow'));
  };
}

const holder = () => tabs.find((t) => locks.holder(`realtime-client share ${server.url}`) === t);

/** The tab reads nothing from its channels until the returned function is called (a busy or slow tab). */
function busy(tab: Tab): () => void {
  tab.held = [];
  return () => {
    const held = tab.held!;
    tab.held = undefined;
    for (const [c, data] of held) c.deliver(data);
  };
}

const acksSent = () => Math.max(...server.frames.map((f) => ('a' in f && f.a !== undefined ? f.a : 0)));
const lastHello = () => server.hellos.at(-1)!;

/** Every message the server pushed, to replay after a resume from `a`, as a v1 server does. */
let pushed: unknown[] = [];
function push(...data: unknown[]): void {
  pushed.push(...data);
  server.push(...data);
}
function replayFrom(a: number): void {
  if (pushed.length > a) server.raw(JSON.stringify({ t: 'msg', s: a + 1, d: pushed.slice(a) }));
}

const open3 = async () => {
  pushed = [];
  const all = [open(), open(), open()];
  await settle(50);
  return all;
};

describe('share: one connection for the tabs of a URL', () => {
  it('opens one connection, for every tab', async () => {
    const [a, b, c] = await open3();
    expect(server.sockets.length).toBe(1);
    expect(server.hellos.length).toBe(1);
    for (const t of [a!, b!, c!]) expect(t.client.state).toBe('open');
    expect(b!.client.transport).toBe('websocket');
  });

  it("delivers the server's messages to every tab, once each, in order", async () => {
    const all = await open3();
    push(1, 2);
    push(3);
    await settle(50);
    for (const t of all) expect(t.received).toEqual([1, 2, 3]);
  });

  it("sends every tab's messages once, and each send() resolves in its own tab on the server's ack", async () => {
    const all = await open3();
    server.autoAck = false;
    const results = all.map(() => ({ done: false }));
    all.forEach((t, i) => void t.client.send(`from ${i}`).then(() => (results[i]!.done = true), String));
    await settle(50);
    expect([...server.messages].sort()).toEqual(['from 0', 'from 1', 'from 2']);
    expect(results.map((r) => r.done)).toEqual([false, false, false]);
    server.ack();
    await settle(50);
    expect(results.map((r) => r.done)).toEqual([true, true, true]);
  });

  it('acknowledges no server message before every tab has it', async () => {
    const all = await open3();
    const resume = busy(all[2]!);
    push(...Array.from({ length: 200 }, (_, i) => i));
    await settle(200);
    expect(acksSent(), 'acked while a tab had none of them').toBe(0);
    resume();
    await settle(200);
    expect(acksSent()).toBe(200);
    for (const t of all) expect(t.received.length).toBe(200);
  });

  it('sends nothing to the server before every tab recorded it', async () => {
    const [, b, c] = await open3();
    const resume = busy(b!);
    void c!.client.send('x').catch(String);
    await settle(100);
    expect(server.messages, 'sent while a tab had not recorded it').toEqual([]);
    resume();
    await settle(100);
    expect(server.messages).toEqual(['x']);
  });

  it('a tab that goes stops holding acks back', async () => {
    const [a, b] = await open3();
    kill(b!, false);
    await settle(50);
    push(1, 2, 3);
    await settle(200);
    expect(acksSent()).toBe(3);
    expect(a!.received).toEqual([1, 2, 3]);
  });
});

describe('share: the tab holding the connection goes', () => {
  it('another tab resumes the session; nothing lost or repeated in any tab, either direction', async () => {
    const [a, b, c] = await open3();
    push(1, 2, 3);
    await settle(200); // acked: 3
    server.autoAck = false;
    const sent: string[] = [];
    for (const [i, t] of [a!, b!, c!].entries()) void t.client.send(`m${i}`).then(() => sent.push(`m${i}`), String);
    await settle(50);
    push(4, 5); // delivered by the leader, not yet acknowledged to the server
    await settle(20);
    kill(a!, true);
    await settle(50);
    // The next leader resumes from what the last one acknowledged: the server replays after it.
    const hello = lastHello();
    expect(server.hellos.length).toBe(2);
    expect(hello.sid).toBe('sid-1');
    replayFrom(hello.a);
    push(6);
    server.autoAck = true;
    server.ack();
    await settle(300);
    for (const t of [b!, c!]) expect(t.received).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...server.messages].sort()).toEqual(['m0', 'm1', 'm2']);
    expect(sent.sort()).toEqual(['m1', 'm2']);
    for (const t of [b!, c!]) expect(t.client.state).toBe('open');
  });

  it('three leaders in a row, each killed mid-stream', async () => {
    const all = [open(), open(), open(), open()];
    pushed = [];
    await settle(50);
    let n = 0;
    for (let round = 0; round < 3; round++) {
      const leader = all[round]!;
      push(++n, ++n);
      const s = all[3]!.client.send(`r${round}`);
      await settle(20);
      kill(leader, true);
      await settle(50);
      replayFrom(lastHello().a);
      server.ack();
      await within(s);
    }
    push(++n);
    await settle(200);
    expect(all[3]!.received).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(server.messages).toEqual(['r0', 'r1', 'r2']);
    expect(server.hellos.length).toBe(4);
  });

  it('the next holder reads what the last one said before it takes over', async () => {
    const [a, b, c] = await open3();
    server.autoAck = false;
    const resume = busy(b!);
    void c!.client.send('x').catch(String);
    await settle(1100); // b never said it recorded 'x': it went out anyway, after a while
    expect(server.messages).toEqual(['x']);
    kill(a!, true); // b gets the lock before it has read what a said about 'x'
    await settle(20);
    resume();
    await settle(100);
    server.autoAck = true;
    server.ack();
    await settle(300);
    expect(server.messages, "'x' sent again by a successor that did not know").toEqual(['x']);
    expect(c!.client.state).toBe('open');
  });

  it('close() in the holding tab hands the session over instead of ending it', async () => {
    pushed = [];
    const closes: number[] = [];
    const a = open({
      env: {
        WebSocket: class extends MockWebSocket {
          override close(code?: number, reason?: string) {
            closes.push(code!);
            super.close(code, reason);
          }
        },
      },
    });
    const b = open();
    await settle(50);
    a.client.close();
    await settle(50);
    // 1000 would end the session on the server; 1001 leaves it resumable.
    expect(closes[0]).toBe(1001);
    expect(closes).not.toContain(1000);
    expect(lastHello().sid).toBe('sid-1');
    await settle(50);
    expect(b.client.state).toBe('open');
  });

  it('a tab that joined later takes the session over too', async () => {
    pushed = [];
    const a = open();
    await settle(50);
    push(1);
    await settle(100);
    const b = open();
    await settle(50);
    kill(a, true);
    await settle(50);
    expect(lastHello().sid, 'resumed, not a new session').toBe('sid-1');
    push(2);
    await settle(100);
    expect(b.received).toEqual([2]);
  });

  it('a tab behind, relinking to the next holder, gets what it missed from it', async () => {
    const [a, b, c] = await open3();
    push(1, 2);
    await settle(100);
    const resume = busy(c!);
    kill(a!, true);
    await settle(50);
    push(3, 4); // b passes them on before c relinks: c's old link drops them, its new one is not open yet
    await settle(50);
    resume();
    await settle(300);
    for (const t of [b!, c!]) expect(t.received).toEqual([1, 2, 3, 4]);
  });
});

describe('share: the holding tab is frozen or hung', () => {
  for (const how of ['freeze', 'bfcache'] as const)
    it(`${how === 'freeze' ? "frozen ('freeze')" : "entering the back/forward cache ('pagehide')"}: it hands the session over at once, and follows when it comes back; nothing lost or repeated in any tab, either direction`, async () => {
      const [a, b, c] = await open3();
      push(1, 2, 3);
      await settle(200);
      server.autoAck = false;
      const sent: string[] = [];
      for (const [i, t] of [a!, b!, c!].entries()) void t.client.send(`m${i}`).then(() => sent.push(`m${i}`), String);
      await settle(50);
      push(4, 5);
      await settle(20);
      expect(holder()).toBe(a);
      const back = freeze(a!, how);
      await settle(50);
      // The lock is free at once: another tab resumes the session, without waiting for any bound.
      expect(holder()).not.toBe(a);
      expect(server.hellos.length).toBe(2);
      expect(lastHello().sid).toBe('sid-1');
      replayFrom(lastHello().a);
      push(6);
      server.autoAck = true;
      server.ack();
      await settle(300);
      for (const t of [b!, c!]) expect(t.received).toEqual([1, 2, 3, 4, 5, 6]);
      await back();
      await settle(300);
      expect(a!.client.state).toBe('open');
      expect(holder(), 'the tab that came back follows').not.toBe(a);
      push(7);
      await settle(300);
      for (const t of [a!, b!, c!]) expect(t.received).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect([...server.messages].sort()).toEqual(['m0', 'm1', 'm2']);
      expect(sent.sort()).toEqual(['m0', 'm1', 'm2']);
      expect(server.hellos.length, 'the tab back did not connect again').toBe(2);
    });

  it("a holder that had sent as a follower, frozen right after a send: its message goes out once, and resolves only on the server's ack", async () => {
    const [a, b, c] = await open3();
    for (const text of ['f1', 'f2']) await within(b!.client.send(text));
    kill(a!, true);
    await settle(100);
    expect(holder()).toBe(b);
    server.autoAck = false;
    let resolved = false;
    void b!.client.send('l1').then(() => (resolved = true), String);
    const back = freeze(b!, 'freeze'); // before the send is written: the message was never announced
    await settle(300);
    expect(holder()).toBe(c);
    await back();
    await settle(300);
    expect(resolved, 'resolved before the server acknowledged it').toBe(false);
    expect(server.messages).toEqual(['f1', 'f2', 'l1']);
    server.ack();
    await settle(100);
    expect(resolved).toBe(true);
  });

  it('hung without a word: another tab takes the lock within 2 × heartbeat.timeout and resumes; the hung one, waking, follows without sending anything again', async () => {
    server.welcome = { hb: 60_000 }; // the server says nothing for the whole test: only the tabs' watch acts
    pushed = [];
    const all = [0, 1, 2].map(() => open({ heartbeat: { timeout: 1000 } }));
    const [a, b, c] = all as [Tab, Tab, Tab];
    await settle(50);
    push(1, 2, 3);
    await settle(200);
    server.autoAck = false;
    const sent: string[] = [];
    for (const [i, t] of all.entries()) void t.client.send(`m${i}`).then(() => sent.push(`m${i}`), String);
    await settle(50);
    expect([...server.messages].sort()).toEqual(['m0', 'm1', 'm2']); // sent, none acknowledged
    push(4, 5);
    await settle(50);
    const wake = hang(a);
    void c.client.send('while hung').then(() => sent.push('while hung'), String);
    await settle(holderBound(1000) - 100);
    expect(server.hellos.length, 'taken over before the bound').toBe(1);
    await settle(200);
    expect(server.hellos.length, 'taken over within the bound').toBe(2);
    expect(lastHello().sid).toBe('sid-1');
    expect(holder()).not.toBe(a);
    replayFrom(lastHello().a);
    push(6);
    server.autoAck = true;
    server.ack();
    await settle(300);
    for (const t of [b, c]) expect(t.received).toEqual([1, 2, 3, 4, 5, 6]);
    const frames = server.frames.length;
    await wake();
    await settle(300);
    expect(server.frames.length, 'the woken tab sent the server nothing').toBe(frames);
    expect(server.hellos.length).toBe(2);
    expect(a.client.state).toBe('open');
    push(7);
    await settle(300);
    for (const t of all) expect(t.received).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect([...server.messages].sort()).toEqual(['m0', 'm1', 'm2', 'while hung']);
    expect(sent.sort()).toEqual(['m0', 'm1', 'm2', 'while hung']);
  });

  it('a holder that answers the probe keeps the connection, however long it stays quiet', async () => {
    server.welcome = { hb: 60_000 };
    const all = [0, 1, 2].map(() => open({ heartbeat: { timeout: 1000 } }));
    await settle(10_000);
    expect(server.hellos.length).toBe(1);
    expect(holder()).toBe(all[0]);
  });
});

describe('share: which holder is heard', () => {
  it('once a holder of a later term spoke, what one of an earlier term says goes unheard (it may not know its lock was taken)', () => {
    const watch = new HolderWatch({
      env: resolveEnv(),
      timeout: 1000,
      probe: () => {},
      drain: async () => {},
      take: async () => false,
    });
    expect(watch.hears({ t: 'acked', a: 3, by: 'a', term: 5 })).toBe(true);
    expect(watch.hears({ t: 'ready', tab: 'b', by: 'b', term: 9 })).toBe(true);
    expect(watch.hears({ t: 'sent', items: [], by: 'a', term: 5 }), "the earlier holder's").toBe(false);
    expect(watch.hears({ t: 'acked', a: 4, by: 'b', term: 9 })).toBe(true);
    expect(watch.hears({ t: 'send', tab: 'a', text: '', by: 'a', term: 5 }), "a follower's: not a holder's").toBe(true);
    watch.lead();
    expect(watch.term, "a new holder's term: later than any heard").toBeGreaterThan(9);
  });
});

describe('share: reconnect: false', () => {
  it('a follower follows the next holder: a holder change is no reconnect of its own', async () => {
    pushed = [];
    const [a, b, c] = [open({ reconnect: false }), open({ reconnect: false }), open({ reconnect: false })];
    await settle(50);
    push(1);
    await settle(100);
    kill(a, true);
    await settle(300);
    for (const t of [b, c]) {
      expect(t.client.state).toBe('open');
      expect(t.errors).toEqual([]);
    }
    push(2);
    await settle(100);
    for (const t of [b, c]) expect(t.received).toEqual([1, 2]);
  });
});

describe('share: the session is lost', () => {
  it("every tab hears 'session-lost', its unacknowledged sends are rejected, and it goes on in the new session", async () => {
    const [a, b] = await open3();
    push(1);
    await settle(100);
    server.autoAck = false;
    const sent = b!.client.send('lost?').then(
      () => 'resolved',
      (e: RealtimeError) => e.code,
    );
    await settle(50);
    expect(server.messages).toEqual(['lost?']);
    server.resumable = false;
    server.welcome = { sid: 'sid-2' };
    server.sent = 0;
    server.drop();
    await settle(1500);
    expect(await sent).toBe('session-lost');
    expect(b!.errors.map((e) => e.code)).toContain('session-lost');
    push(10);
    await settle(200);
    for (const t of [a!, b!]) expect(t.received).toEqual([1, 10]);
    for (const t of [a!, b!]) expect(t.client.state).toBe('open');
  });
});

/**
 * A plain endpoint that resumes from where the client says it stands: after the Last-Event-ID
 * (an SSE endpoint that keeps its events) or the polling cursor (`key`), which its transport keeps
 * in the client's resume state. Numbers every event 1, 2, ...; counts the connections open at
 * once; keeps what was posted to it.
 */
class PlainFeed {
  readonly events: unknown[] = [];
  readonly live = new Set<{ h: TransportHandlers; resume: ResumeState; next: number }>();
  /** Where each connection opened from. */
  readonly opened: Array<string | undefined> = [];
  mostLive = 0;
  readonly posted: string[] = [];

  constructor(private readonly key: 'lastEventId' | 'cursor') {}

  transport(): Transport {
    return {
      name: 'fetch-stream',
      isSupported: () => true,
      open: (_url, h, { resume = {} }) => {
        const conn = { h, resume, next: Number(resume[this.key] ?? 0) };
        this.opened.push(resume[this.key]);
        const start = setTimeout(() => {
          this.live.add(conn);
          this.mostLive = Math.max(this.mostLive, this.live.size);
          h.onOpen();
          this.#feed(conn);
        }, 1);
        return {
          send: (text) => void this.posted.push(text),
          close: () => {
            clearTimeout(start);
            this.live.delete(conn);
          },
          buffered: 0,
        };
      },
    };
  }

  push(...data: unknown[]): void {
    this.events.push(...data);
    for (const c of this.live) this.#feed(c);
  }

  #feed(c: { h: TransportHandlers; resume: ResumeState; next: number }): void {
    while (this.live.has(c) && c.next < this.events.length) {
      c.resume[this.key] = String(++c.next);
      c.h.onFrame(JSON.stringify(this.events[c.next - 1]));
    }
  }

  /** The holder's page went: its connection with it. */
  drop(): void {
    for (const c of this.live) {
      this.live.delete(c);
      c.h.onClose(1006, 'gone');
    }
  }
}

describe('share: plain mode', () => {
  it.each(['lastEventId', 'cursor'] as const)(
    'one connection; every tab gets each message once, in order, across a holder change that resumes from the %s; each send goes out once and resolves in its tab',
    async (key) => {
      const feed = new PlainFeed(key);
      const plain: ClientOptions = { protocol: 'plain', transports: [feed.transport()] };
      const [a, b, c] = [open(plain), open(plain), open(plain)];
      const early = a.client.send('early'); // queued before a holds the connection
      await settle(50);
      for (const t of [a, b, c]) expect(t.client.state).toBe('open');
      await within(early);
      feed.push(1, 2, 3);
      const sends = [a, b, c].map((t, i) => t.client.send(`m${i}`));
      await settle(50);
      await within(Promise.all(sends));
      feed.push(4, 5);
      await settle(50);
      kill(a, false);
      feed.drop();
      feed.push(6);
      await settle(300);
      feed.push(7);
      const after = [b, c].map((t, i) => t.client.send({ after: i }));
      await settle(50);
      await within(Promise.all(after));
      for (const t of [b, c]) expect(t.received).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(feed.opened, 'the next holder resumed from the last event every tab had').toEqual([undefined, '5']);
      expect(feed.mostLive, 'connections open at once').toBe(1);
      expect([...feed.posted].sort()).toEqual(['early', 'm0', 'm1', 'm2', '{"after":0}', '{"after":1}']);
      for (const t of [b, c]) expect(t.errors).toEqual([]);
    },
  );
});

describe('share: queue.persist', () => {
  /** One localStorage for the tabs of the test, as for the tabs of one profile. */
  const persisted = (): ClientOptions => {
    const store = new Map<string, string>();
    const localStorage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
      removeItem: (k: string) => void store.delete(k),
    } as Storage;
    return { queue: { persist: 'localStorage' }, env: { localStorage } };
  };
  /** The tab is closed: pagehide (the persisted queue is saved), then it is gone. */
  const close = (tab: Tab) => {
    tab.env.window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: false }));
    kill(tab, false);
  };
  const goOffline = async (all: Tab[]) => {
    for (const t of all) t.env.navigator.onLine = false;
    server.drop();
    await settle(50);
  };
  const goOnline = (all: Tab[]) => {
    for (const t of all) {
      t.env.navigator.onLine = true;
      t.env.window.dispatchEvent(new Event('online'));
    }
  };

  it('the holder frozen: it lets go of the saved queue with the connection, and the next holder takes both over; each message once', async () => {
    const options = persisted();
    const [a, b, c] = [open(options), open(options), open(options)];
    await settle(50);
    server.autoAck = false;
    const sends = [a, b, c].map((t, i) => t.client.send(`m${i}`));
    await settle(50);
    const back = freeze(a, 'freeze');
    await settle(300);
    expect(server.hellos.length, 'the next holder resumed').toBe(2);
    expect(holder()).not.toBe(a);
    server.autoAck = true;
    server.ack();
    await back();
    await settle(300);
    await within(Promise.all(sends));
    expect([...server.messages].sort()).toEqual(['m0', 'm1', 'm2']);
    for (const t of [a, b, c]) expect(t.client.state).toBe('open');
  });

  it('the holder hung: the next holder takes the saved queue from it with the connection, within the bound; woken, it saves nothing over it', async () => {
    server.welcome = { hb: 60_000 }; // only the tabs' watch acts
    const options = { ...persisted(), heartbeat: { timeout: 1000 } };
    const storage = options.env!.localStorage!;
    const key = `realtime-client queue ${server.url}`;
    const [a, b, c] = [open(options), open(options), open(options)];
    await settle(50);
    server.autoAck = false;
    const sends = [a, b, c].map((t, i) => t.client.send(`m${i}`));
    await settle(50);
    expect(locks.holder(key)).toBe(a);
    const wake = hang(a);
    await settle(holderBound(1000) + 100);
    expect(server.hellos.length, 'the next holder resumed within the bound').toBe(2);
    const next = holder();
    expect(next).not.toBe(a);
    expect(locks.holder(key), 'the saved queue went with the connection').toBe(next);
    replayFrom(lastHello().a);
    server.autoAck = true;
    server.ack();
    await settle(300);
    expect(storage.getItem(key), 'all acknowledged: the new holder deleted the record').toBeNull();
    await wake();
    await settle(300);
    expect(storage.getItem(key), 'the woken tab wrote its old queue back').toBeNull();
    await within(Promise.all(sends));
    expect([...server.messages].sort()).toEqual(['m0', 'm1', 'm2']);
    for (const t of [a, b, c]) expect(t.client.state).toBe('open');
  });

  it('3 tabs send offline, the holder closes, back online: each message reaches the server once, and every send() resolves in its tab', async () => {
    const options = persisted();
    const [a, b, c] = [open(options), open(options), open(options)];
    await settle(50);
    expect(server.sockets.length).toBe(1);
    await goOffline([a, b, c]);
    const sends = [b, c].flatMap((t, i) => [t.client.send(`${i} 1`), t.client.send(`${i} 2`)]);
    void a.client.send('holder 1').catch(String);
    void a.client.send('holder 2').catch(String);
    await settle(50);
    close(a);
    await settle(300);
    goOnline([b, c]);
    await settle(500);
    await within(Promise.all(sends));
    expect([...server.messages].sort()).toEqual(['0 1', '0 2', '1 1', '1 2', 'holder 1', 'holder 2']);
    // Once each: the server saw each message in one frame item, not again under another number.
    const items = server.frames.flatMap((f) => (f.t === 'msg' ? f.d : []));
    expect(items.sort()).toEqual(['0 1', '0 2', '1 1', '1 2', 'holder 1', 'holder 2']);
    expect(server.sockets.length, 'one connection at a time').toBe(2);
  });

  it.each([
    ['another tab', 2],
    ['the next holder', 1],
  ])('a message the holder took from %s but had not sent when it closed goes out once', async (_, from) => {
    const options = persisted();
    const [a, b, c] = [open(options), open(options), open(options)];
    await settle(50);
    // Its message reaches the holder only after its connection dropped: it waits there, unsent
    // and unannounced, in the holder's saved queue (and in its tab, which sends it again).
    const resume = busy(a);
    const sent = [a, b, c][from]!.client.send('x');
    await settle(10);
    a.env.navigator.onLine = false;
    server.drop();
    await settle(10);
    resume();
    await settle(10);
    close(a);
    await settle(500);
    await within(sent);
    expect(server.messages).toEqual(['x']);
    const items = server.frames.flatMap((f) => (f.t === 'msg' ? f.d : []));
    expect(items, 'sent once, not again under another number').toEqual(['x']);
    for (const t of [b, c]) expect(t.client.state).toBe('open');
  });

  it('one tab reloaded offline: the next page, holding the connection, sends what the last one saved, once', async () => {
    const options = persisted();
    const a = open(options);
    await settle(50);
    await goOffline([a]);
    void a.client.send('queued').catch(String);
    await settle(50);
    close(a);
    const next = open(options);
    await settle(300);
    expect(next.client.state).toBe('open');
    await within(next.client.send('after'));
    expect(server.messages).toEqual(['queued', 'after']);
    expect(next.errors).toEqual([]);
  });
});

describe('share: where it cannot work', () => {
  it("falls back to a connection per tab with an 'unsupported' error, without Web Locks", async () => {
    const a = open({ env: { locks: undefined } });
    const b = open({ env: { locks: undefined } });
    await settle(50);
    expect(server.sockets.length).toBe(2);
    for (const t of [a, b])
      expect(t.errors.map((e) => [e.code, e.message])).toEqual([
        ['unsupported', 'share: Web Locks are not available; this tab keeps its own connection'],
      ]);
  });

  it('falls back without BroadcastChannel', async () => {
    const a = open({ env: { BroadcastChannel: undefined } });
    await settle(50);
    expect(a.errors[0]?.message).toMatch(/BroadcastChannel is not available/);
    expect(a.client.state).toBe('open');
  });
});
