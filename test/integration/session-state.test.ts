// @vitest-environment node
// The contract of SessionState (src/server/state/types.ts), one suite that every engine passes:
// the memory engine and the Redis engine (a redis-server of the test's own). The replay buffer,
// the client-message dedupe, fencing and expiry behave the same wherever the state lives.
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEngine } from '../../src/server/state/memory';
import { RedisEngine } from '../../src/server/state/redis';
import type { EngineHost, SessionEngine, SessionState } from '../../src/server/state/types';
import { serviceScope } from '../services';
import { faultProxy } from './fault-proxy';

const services = serviceScope({ needs: ['redis'] });

/** What the engine tells the server, recorded. */
function host(replay = { maxMessages: 1000, maxBytes: 1 << 20 }) {
  const told: string[] = [];
  const errors: unknown[] = [];
  const h: EngineHost = {
    options: { sessionTtl: 60_000, heartbeatInterval: 25_000, maxMessageBytes: 4096, replay },
    woke: (sid, seq) => void told.push(`woke ${sid} ${seq}`),
    fenced: (sid, epoch) => void told.push(`fenced ${sid} ${epoch}`),
    ended: (sid, code, reason) => void told.push(`ended ${sid} ${code} ${reason}`),
    relayed: (message) => void told.push(`relayed ${message}`),
    reportError: (err) => void errors.push(err),
  };
  return { h, told, errors };
}

const engines: Array<[string, () => Promise<SessionEngine>]> = [
  ['memory', () => Promise.resolve(new MemoryEngine(undefined, 1 << 30))],
  ['redis', async () => new RedisEngine({ url: (await services.redis()).url })],
];

const open: SessionEngine[] = [];
afterEach(async () => {
  for (const e of open.splice(0)) await e.close();
});

const msgs = (...texts: string[]) => texts.map((t) => ({ json: JSON.stringify(t), bytes: t.length + 2 }));
const jsonOf = (entries: Array<{ json: string }>): unknown[] => entries.map((e): unknown => JSON.parse(e.json));

describe.each(engines)('SessionState contract: %s', (_name, make) => {
  async function engine(replay?: { maxMessages: number; maxBytes: number }) {
    const e = await make();
    const rec = host(replay);
    e.bind(rec.h);
    open.push(e);
    return { e, ...rec };
  }

  /** A new session with its first link attached. */
  async function attached(e: SessionEngine): Promise<{ s: SessionState; epoch: number }> {
    const s = await e.create('10.0.0.1');
    const a = await s.attach(undefined, Infinity);
    if ('why' in a) throw new Error(a.why);
    return { s, epoch: a.epoch };
  }

  it('a new session: ids of 128+ random bits, its key matches and no other, nothing received', async () => {
    const { e } = await engine();
    const s = await e.create('10.0.0.1');
    expect(s.id).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(s.key).not.toBe(s.id);
    expect(s.matchesKey(s.key)).toBe(true);
    expect(s.matchesKey(s.key.slice(1) + 'x')).toBe(false);
    expect(s.remoteAddress).toBe('10.0.0.1');
    expect(await s.attach(undefined, Infinity)).toMatchObject({ inSeq: 0, lastSeq: 0 });
  });

  it('append numbers messages from 1, in order; read returns them from any seq, as many as asked', async () => {
    const { e } = await engine();
    const { s } = await attached(e);
    expect(await s.append(msgs('a', 'b'), 0)).toEqual({ last: 2 });
    expect(await s.append(msgs('c'), 0)).toEqual({ last: 3 });
    expect(await s.lastSeq()).toBe(3);
    expect(jsonOf(await s.read(1, 10))).toEqual(['a', 'b', 'c']);
    expect((await s.read(2, 1)).map((m) => m.seq)).toEqual([2]);
    expect(await s.read(4, 10)).toEqual([]);
    expect((await s.read(1, 10))[0]).toEqual({ seq: 1, json: '"a"', bytes: 3 });
  });

  it('appends made in one turn (a loop of send()) are stored in call order, more than a script call carries included; each resolves at or past its own last', async () => {
    const { e } = await engine({ maxMessages: 10_000, maxBytes: 1 << 24 });
    const { s } = await attached(e);
    const texts = Array.from({ length: 2_500 }, (_, i) => `m${i}`);
    const outcomes = await Promise.all(texts.map((t) => s.append(msgs(t), 0)));
    outcomes.forEach((o, i) => expect((o as { last: number }).last).toBeGreaterThanOrEqual(i + 1));
    expect(await s.lastSeq()).toBe(2_500);
    const stored = [...(await s.read(1, 1000)), ...(await s.read(1001, 1000)), ...(await s.read(2001, 1000))];
    expect(stored.map((m) => m.seq)).toEqual(texts.map((_, i) => i + 1));
    expect(jsonOf(stored)).toEqual(texts);
    // And the next turn's appends come after.
    expect(await s.append(msgs('later'), 0)).toEqual({ last: 2_501 });
  });

  it('an ack drops what it covers, and only that', async () => {
    const { e } = await engine();
    const { s, epoch } = await attached(e);
    await s.append(msgs('a', 'b', 'c'), 0);
    await s.wrote(epoch, 3);
    await s.acknowledge(epoch, 2);
    expect(jsonOf(await s.read(1, 10))).toEqual(['c']);
    expect(s.unacknowledged).toBe(1);
  });

  it('claim: how many leading client messages were claimed before, or a gap; commit: what the next attach reports', async () => {
    const { e } = await engine();
    const { s, epoch } = await attached(e);
    expect(await s.claim(epoch, 1, 3)).toBe(0);
    expect(await s.claim(epoch, 2, 3)).toBe(2); // 2 and 3 again, then 4
    expect(await s.claim(epoch, 6, 1)).toBe('gap');
    await s.commit(epoch, 4);
    expect(await s.attach(0, Infinity)).toMatchObject({ inSeq: 4 });
  });

  it('a resume: refused below what the client acknowledged, above anything written, or with a max too small for what it has yet to receive', async () => {
    const { e } = await engine();
    const { s, epoch } = await attached(e);
    await s.append([...msgs('a', 'b'), { json: JSON.stringify('x'.repeat(1000)), bytes: 1002 }], 0);
    await s.wrote(epoch, 2);
    await s.acknowledge(epoch, 1);
    expect(await s.attach(0, Infinity)).toEqual({ why: 'bad-ack' });
    expect(await s.attach(3, Infinity)).toEqual({ why: 'bad-ack' }); // 3 was never written
    const small = await s.attach(2, 512);
    expect(small).toMatchObject({
      why: 'too-large',
      reason: expect.stringContaining('message of 1002 bytes') as unknown,
    });
    expect(await s.attach(2, 4096)).toMatchObject({ inSeq: 0, lastSeq: 3 });
    // hello.a acknowledges what it names: 'b' goes, what the client has yet to receive stays.
    expect(jsonOf(await s.read(1, 10))).toEqual(['x'.repeat(1000)]);
  });

  it('fencing: after a newer link attached, the older one changes nothing', async () => {
    const { e } = await engine();
    const { s, epoch: first } = await attached(e);
    await s.append(msgs('a', 'b'), 0);
    await s.wrote(first, 2);
    const second = await s.attach(0, Infinity);
    if ('why' in second) throw new Error(second.why);
    expect(second.epoch).toBeGreaterThan(first);
    expect(await s.acknowledge(first, 2)).toBe('fenced');
    expect(await s.claim(first, 1, 1)).toBe('fenced');
    expect(await s.commit(first, 1)).toBe('fenced');
    expect(await s.wrote(first, 2)).toBe('fenced');
    expect(jsonOf(await s.read(1, 10))).toEqual(['a', 'b']); // the ack of the old link dropped nothing
    expect(await s.attach(0, Infinity)).toMatchObject({ inSeq: 0 });
  });

  it('expire(epoch): the session goes when no newer link attached; lives on when one did', async () => {
    const { e } = await engine();
    const { s, epoch } = await attached(e);
    await s.detach(epoch, Date.now() + 60_000);
    const again = await s.attach(0, Infinity);
    if ('why' in again) throw new Error(again.why);
    expect(await s.expire(epoch)).toBe(false);
    await s.detach(again.epoch, Date.now() + 60_000);
    expect(await s.expire(again.epoch)).toBe(true);
    expect(await s.attach(0, Infinity)).toEqual({ why: 'gone' });
  });

  it('end(): gone for every later resume and append', async () => {
    const { e } = await engine();
    const { s } = await attached(e);
    await s.end();
    expect(await s.attach(0, Infinity)).toEqual({ why: 'gone' });
    expect(await s.append(msgs('late'), 0)).toEqual({ ended: true });
  });

  it('overrun: past the replay bounds the oldest messages go, and the session can never resume', async () => {
    const { e } = await engine({ maxMessages: 3, maxBytes: 1 << 20 });
    const { s, epoch } = await attached(e);
    await s.append(msgs('a', 'b'), 0);
    await s.wrote(epoch, 2);
    expect(await s.append(msgs('c', 'd'), 2)).toEqual({ overrun: true, unwritten: false, attached: true, last: 4 });
    expect(await s.append(msgs('e', 'f', 'g'), 2)).toMatchObject({ overrun: true, unwritten: true, attached: true });
    expect(await s.attach(2, Infinity)).toEqual({ why: 'gone' });
  });

  it('overrun while no link holds it: the session is over at once', async () => {
    const { e } = await engine({ maxMessages: 1, maxBytes: 1 << 20 });
    const { s, epoch } = await attached(e);
    await s.detach(epoch, Date.now() + 60_000);
    await s.append(msgs('a'), 0);
    expect(await s.append(msgs('b'), 0)).toMatchObject({ overrun: true, attached: false });
    expect(await s.attach(0, Infinity)).toEqual({ why: 'gone' });
  });
});

// A command Redis ran whose reply never came back (the connection dropped in between: Redis
// stopped or crashed, a network cut) is sent again by ioredis once it has reconnected (its
// autoResendUnfulfilledCommands). Every operation must therefore be safe to run twice.
describe('Redis engine: an operation Redis ran whose reply was lost, run again after the reconnect', () => {
  /** An engine whose connections go through a proxy that can lose the next reply (and then cut that connection). */
  async function behindProxy(replay?: { maxMessages: number; maxBytes: number }) {
    const redis = await services.redis();
    const proxy = await faultProxy({ targetPort: redis.port });
    services.defer(() => proxy.close());
    const e = new RedisEngine({ url: `redis://127.0.0.1:${proxy.port}` });
    e.bind(host(replay).h);
    open.push(e);
    const s = await e.create('10.0.0.1');
    const a = await s.attach(undefined, Infinity);
    if ('why' in a) throw new Error(a.why);
    // Whatever the engine sent without waiting (the index update of attach) is answered by now,
    // so the next reply from Redis is the one of the operation under test.
    await e.client.ping();
    return { s, epoch: a.epoch, proxy };
  }

  it('claim: the messages are still new to it (delivered, not taken for duplicates and lost)', async () => {
    const { s, epoch, proxy } = await behindProxy();
    proxy.cutFrameInHalf();
    expect(await s.claim(epoch, 1, 2)).toBe(0);
    expect(proxy.stats.cut).toBe(1); // the reply was lost, and the claim answered after the reconnect
    expect(await s.claim(epoch, 3, 1)).toBe(0);
    expect(await s.claim(epoch, 3, 2)).toBe(1); // a real duplicate is still one: 3 again, then 4
  });

  it('append: the messages are stored once', async () => {
    const { s, epoch, proxy } = await behindProxy();
    // Held by no link, so the append wakes no one: no other chunk from Redis races its reply.
    await s.detach(epoch, Date.now() + 60_000);
    proxy.cutFrameInHalf();
    expect(await s.append(msgs('a', 'b'), 0)).toEqual({ last: 2 });
    expect(proxy.stats.cut).toBe(1);
    expect(await s.append(msgs('c'), 0)).toEqual({ last: 3 });
    expect(jsonOf(await s.read(1, 10))).toEqual(['a', 'b', 'c']);
  });

  it('appends of one turn, sent as several script calls: every call resent after the lost reply stores nothing twice', async () => {
    const { s, epoch, proxy } = await behindProxy({ maxMessages: 10_000, maxBytes: 1 << 24 });
    await s.detach(epoch, Date.now() + 60_000);
    const texts = Array.from({ length: 2_500 }, (_, i) => `m${i}`);
    proxy.cutFrameInHalf();
    const outcomes = await Promise.all(texts.map((t) => s.append(msgs(t), 0)));
    expect(proxy.stats.cut).toBe(1);
    outcomes.forEach((o) => expect(o).toEqual({ last: 2_500 }));
    expect(await s.lastSeq()).toBe(2_500);
    const stored = [...(await s.read(1, 1000)), ...(await s.read(1001, 1000)), ...(await s.read(2001, 1000))];
    expect(stored.map((m) => m.seq)).toEqual(texts.map((_, i) => i + 1));
    expect(jsonOf(stored)).toEqual(texts);
    expect(await s.append(msgs('later'), 0)).toEqual({ last: 2_501 });
  });
});
