// @vitest-environment node
// Sessions kept in a session store survive a server crash: a new RealtimeServer on the same port
// and store directory restores them, and a client resumes with sid + key as if nothing happened.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  fileSessionStore,
  RealtimeServer,
  type RealtimeServerOptions,
  type Session,
  type SessionStore,
  type StoredSession,
} from '../../src/server';
import { startServer, type Running } from './harness';
import { RawClient } from './raw-client';
import { waitFor } from '../wait';

const running = new Set<Running>();
const clients: RawClient[] = [];
let dir = '';
let logs: string[] = [];

/** The reference server with its sessions stored in `dir`. `setup` runs right after construction: 'restore' is emitted on the next tick. */
function start(
  port = 0,
  options: Omit<RealtimeServerOptions, 'server'> = {},
  setup?: (rt: RealtimeServer) => void,
): Promise<Running> {
  return track(
    startServer(
      { ackDelay: 10, sessionStore: fileSessionStore(dir), ...options },
      {
        port,
        app: (_req, res) => res.end('ok'),
        setup: (rt) => {
          setup?.(rt);
          rt.on('error', (err) => logs.push(`error: ${String((err as Error)?.stack ?? err)}`));
        },
      },
    ),
  );
}

/** Closed after the test unless it crashed first. */
async function track(starting: Promise<Running>): Promise<Running> {
  const r = await starting;
  running.add(r);
  return r;
}

/** A crash, as far as the store can tell: connections die, the RealtimeServer is never closed. */
async function crash(r: Running): Promise<void> {
  running.delete(r);
  r.http.closeAllConnections();
  await new Promise<void>((resolve) => r.http.close(() => resolve()));
}

function client(url: string): RawClient {
  const c = new RawClient(url);
  clients.push(c);
  return c;
}

const nextSession = (rt: RealtimeServer): Promise<Session> => new Promise((resolve) => rt.once('connection', resolve));
const storedFile = (sid: string): StoredSession =>
  JSON.parse(readFileSync(join(dir, `${sid}.json`), 'utf8')) as StoredSession;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rt-store-'));
  logs = [];
  for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void logs.push(args.map(String).join(' ')));
  }
});

afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of clients.splice(0)) c.terminate();
  for (const r of running) await r.close();
  running.clear();
  rmSync(dir, { recursive: true, force: true });
});

describe('sessionStore: sessions survive a server crash', () => {
  it('a client resumes its session on a new server process: resumed, a = received, unacked messages replayed once', async () => {
    const a = await start();
    const gotA: unknown[] = [];
    const sessionA = nextSession(a.rt);
    const c1 = client(a.url);
    const w1 = await c1.hello();
    expect(w1.resumed).toBe(false);
    const sA = await sessionA;
    sA.on('message', (d) => gotA.push(d));

    // Client -> server: 3 messages, acknowledged.
    c1.send({ t: 'msg', s: 1, d: ['a', 'b', 'c'] });
    expect((await c1.next('ack')).a).toBe(3);
    expect(gotA).toEqual(['a', 'b', 'c']);
    // Server -> client: 5 messages; the client acknowledges 2 of them.
    for (let i = 1; i <= 5; i++) sA.send({ n: i });
    await waitFor(() => c1.messages().length === 5, { timeout: 3000, what: '5 messages' });
    c1.send({ t: 'ack', a: 2 });
    c1.terminate();
    await waitFor(() => !sA.connected, { timeout: 3000, what: 'disconnect' });
    // Two more while disconnected: kept in the replay buffer, and in the store.
    sA.send({ n: 6 });
    sA.send({ n: 7 });
    await waitFor(() => storedFile(sA.id).nextSeq === 8 && storedFile(sA.id).replay[0]?.[0] === 3, {
      timeout: 3000,
      what: 'store up to date',
    });
    await crash(a);

    const restored: Session[] = [];
    const connections: Session[] = [];
    const gotB: unknown[] = [];
    const b = await start(a.port, {}, (rt) => {
      rt.on('restore', (s) => {
        restored.push(s);
        s.on('message', (d) => gotB.push(d));
      });
      rt.on('connection', (s) => connections.push(s));
    });
    await new Promise((r) => setImmediate(r));
    expect(restored.map((s) => s.id)).toEqual([sA.id]);
    expect(restored[0]!.connected).toBe(false);

    // The client received 1..5; it resumes with a = 3 (its own ack of 4 and 5 was lost).
    const c2 = client(b.url);
    const w2 = await c2.hello({ sid: w1.sid, key: w1.key, a: 3 });
    expect(w2).toMatchObject({ resumed: true, sid: w1.sid, a: 3 });
    await waitFor(() => c2.messages().length >= 4, { timeout: 3000, what: 'replay' });
    // Retransmitted after the resume: 3 again (a duplicate) and 4 (new).
    c2.send({ t: 'msg', s: 3, d: ['c', 'd'] });
    await waitFor(() => gotB.length === 1, { timeout: 3000, what: 'd' });
    c2.send({ t: 'ack', a: 7 });
    await new Promise((r) => setTimeout(r, 100));
    expect(c2.messages()).toEqual([4, 5, 6, 7].map((n) => [n, { n }]));
    expect(gotB).toEqual(['d']);
    expect(connections).toEqual([]);
    expect(restored[0]!.unacknowledged).toBe(0);
    // New messages continue the numbering.
    restored[0]!.send('next');
    await waitFor(() => c2.messages().length === 5, { timeout: 3000, what: 'next' });
    expect(c2.messages()[4]).toEqual([8, 'next']);

    expect(logs.filter((l) => l.includes(w1.key))).toEqual([]);
    expect(logs.filter((l) => l.startsWith('error'))).toEqual([]);
  });

  it('an unresumed restored session expires sessionTtl after the restore and is removed from the store', async () => {
    const a = await start(0, { sessionTtl: 60_000 });
    const c1 = client(a.url);
    const w1 = await c1.hello();
    c1.terminate();
    await crash(a);
    let closed!: Promise<[number, string]>;
    const b = await start(a.port, { sessionTtl: 150 }, (rt) => {
      closed = new Promise((resolve) =>
        rt.once('restore', (s) => s.once('close', (code, reason) => resolve([code, reason]))),
      );
    });
    expect(b.rt.sessions.has(w1.sid)).toBe(true);
    expect(await closed).toEqual([1006, 'session expired']);
    expect(existsSync(join(dir, `${w1.sid}.json`))).toBe(false);
  });

  it('a corrupt or foreign file in the directory is ignored with a warning that holds no secret', async () => {
    const a = await start();
    const c1 = client(a.url);
    const w1 = await c1.hello();
    c1.terminate();
    await crash(a);
    const secret = 'SECRET-KEY-do-not-log-0123';
    writeFileSync(join(dir, 'broken.json'), `{"sid":"broken","key":"${secret}","received":`);
    writeFileSync(
      join(dir, 'other.json'),
      JSON.stringify({ sid: 'mismatch', key: secret, received: 0, nextSeq: 1, replay: [] }),
    );
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    const b = await start(a.port);
    expect([...b.rt.sessions.keys()]).toEqual([w1.sid]);
    const warnings = logs.filter((l) => l.includes('session store'));
    expect(warnings.some((l) => l.includes('broken.json'))).toBe(true);
    expect(warnings.some((l) => l.includes('other.json'))).toBe(true);
    expect(logs.filter((l) => l.includes(secret) || l.includes(w1.key))).toEqual([]);
    const c2 = client(b.url);
    expect(await c2.hello({ sid: w1.sid, key: w1.key, a: 0 })).toMatchObject({ resumed: true });
  });

  it('the stored session is removed when the session ends', async () => {
    const a = await start();
    const c1 = client(a.url);
    const s1 = nextSession(a.rt);
    const w1 = await c1.hello();
    expect(storedFile(w1.sid)).toMatchObject({ sid: w1.sid, received: 0, nextSeq: 1, replay: [] });
    c1.send({ t: 'close', code: 1000, reason: 'bye' });
    await waitFor(() => !existsSync(join(dir, `${w1.sid}.json`)), { timeout: 3000, what: 'file removed' });
    const c2 = client(a.url);
    const s2 = nextSession(a.rt);
    const w2 = await c2.hello();
    expect(existsSync(join(dir, `${w2.sid}.json`))).toBe(true);
    (await s2).close();
    expect(existsSync(join(dir, `${w2.sid}.json`))).toBe(false);
    await s1;
    expect(readdirSync(dir)).toEqual([]);
  });

  it('deliver, then save, then ack: no ack covers a message before it was emitted and saved; each message carries its seq', async () => {
    const events: string[] = [];
    const files = fileSessionStore(dir);
    const store: SessionStore = {
      load: () => files.load(),
      save: (s) => {
        files.save(s);
        events.push(`save ${s.received}`);
      },
      remove: (sid) => files.remove(sid),
    };
    const a = await start(0, { sessionStore: store, ackDelay: 1000 });
    a.rt.on('connection', (s) => {
      const conn = (s as unknown as { link: { conn: { send(t: string): void } } }).link.conn;
      const send = conn.send.bind(conn);
      conn.send = (text: string) => {
        const f = JSON.parse(text) as { t: string; a?: number };
        if (f.a !== undefined) events.push(`${f.t} a=${f.a}`);
        send(text);
      };
      s.on('message', (d, seq) => events.push(`message ${String(d)}`, `seq ${seq}`));
    });
    const c = client(a.url);
    await c.hello();
    // 200 messages in one frame: more than the urgent-ack threshold (128).
    c.send({ t: 'msg', s: 1, d: Array.from({ length: 200 }, (_, i) => i + 1) });
    expect((await c.next('ack')).a).toBe(200);
    const save = events.indexOf('save 200');
    const last = events.indexOf('message 200');
    const ack = events.findIndex((e) => e.startsWith('ack'));
    expect(save).toBeGreaterThanOrEqual(0);
    expect(last).toBeLessThan(save);
    expect(save).toBeLessThan(ack);
    expect(events[events.indexOf('message 7') + 1]).toBe('seq 7');
  });

  it('a resume after a failed save is refused with 4500: welcome.a never acknowledges a message the store does not have', async () => {
    const files = fileSessionStore(dir);
    let failing = false;
    const store: SessionStore = {
      load: () => files.load(),
      save: (s) => {
        if (failing) throw new Error('disk full');
        files.save(s);
      },
      remove: (sid) => files.remove(sid),
    };
    const a = await start(0, { sessionStore: store });
    const got: unknown[] = [];
    a.rt.on('connection', (s) => s.on('message', (d) => got.push(d)));
    const c = client(a.url);
    const w = await c.hello();
    failing = true;
    c.send({ t: 'msg', s: 1, d: ['x'] });
    expect((await c.whenClosed()).code).toBe(4500); // delivered, then the save failed
    expect(got).toEqual(['x']);

    const c2 = client(a.url);
    await c2.opened();
    c2.send({ t: 'hello', v: [1], a: 0, sid: w.sid, key: w.key });
    expect((await c2.whenClosed()).code).toBe(4500);
    expect(c2.frames.map((f) => f.t)).toEqual(['close']); // no welcome with a = 1
    expect(storedFile(w.sid).received).toBe(0);

    failing = false;
    const c3 = client(a.url);
    const w3 = await c3.hello({ sid: w.sid, key: w.key });
    expect(w3).toMatchObject({ resumed: true, a: 1 });
    expect(storedFile(w.sid).received).toBe(1);
  });

  it('a new session whose first save fails is refused with 4500 and not kept', async () => {
    const store: SessionStore = {
      load: () => [],
      save: () => {
        throw new Error('disk full');
      },
      remove: () => {},
    };
    const a = await start(0, { sessionStore: store });
    const c = client(a.url);
    await c.opened();
    c.send({ t: 'hello', v: [1], a: 0 });
    expect((await c.whenClosed()).code).toBe(4500);
    expect(a.rt.sessions.size).toBe(0);
  });

  it('without the option nothing is stored', async () => {
    await track(startServer());
    expect(readdirSync(dir)).toEqual([]);
  });
});
