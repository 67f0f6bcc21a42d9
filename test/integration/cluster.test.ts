// @vitest-environment node
// Sessions in Redis (issue 11): two reference servers in this process, each its own HTTP server
// on its own port, sharing one redis-server of the test's own. Raw clients (frames by hand), so
// what is checked is the server's side of docs/protocol.md, "Server clusters". The real client
// across processes behind nginx: test/integration/cluster-nodes.test.ts.
import { describe, expect, it } from 'vitest';
import type { RealtimeServerOptions, Session } from '../../src/server/index';
import { redisCluster } from '../../src/server-redis';
import type { RedisEngine } from '../../src/server/state/redis';
import { serviceScope } from '../services';
import { faultProxy } from './fault-proxy';
import { startServer } from './harness';
import { HELLO, PollClient, post, StreamClient } from './http-client';
import { RawClient } from './raw-client';
import { waitFor } from '../wait';

const services = serviceScope({ needs: ['redis'] });

/** A reference server on its own port, sessions in the Redis at `url`; stopped after the test. */
async function node(url: string, options: RealtimeServerOptions = {}) {
  const s = await startServer({ cluster: redisCluster({ url }), ...options });
  const rt = s.rt;
  const opened: Session[] = [];
  rt.on('connection', (s) => opened.push(s));
  rt.on('restore', (s) => opened.push(s));
  const got = new Map<string, Array<[unknown, number]>>();
  const record = (s: Session) => s.on('message', (d, seq) => got.set(s.id, [...(got.get(s.id) ?? []), [d, seq]]));
  rt.on('connection', record);
  rt.on('restore', record);
  const clients: RawClient[] = [];
  services.defer(async () => {
    for (const c of clients) c.terminate();
    await s.close();
  });
  return {
    rt,
    opened,
    got,
    url: s.url,
    base: s.base,
    client() {
      const c = new RawClient(s.url);
      clients.push(c);
      return c;
    },
  };
}

describe('sessions in Redis, two servers', () => {
  it('a session opened on A resumes on B with what A had not delivered, and A is fenced', async () => {
    const redis = await services.redis();
    const a = await node(redis.url);
    const b = await node(redis.url);
    const ca = a.client();
    const w = await ca.hello();
    ca.send({ t: 'msg', s: 1, d: ['to A'] });
    expect((await ca.next('ack')).a).toBe(1);
    const sessionA = await waitFor(() => a.opened[0], { timeout: 3000, what: 'a.opened[0]' });
    sessionA.send('one');
    sessionA.send('two');
    await waitFor(() => ca.messages().length === 2, { timeout: 3000, what: 'ca.messages().length === 2' });
    // The client read 'one' only, then moved to B.
    const cb = b.client();
    const wb = await cb.hello({ sid: w.sid, key: w.key, a: 1 });
    expect(wb).toMatchObject({ t: 'welcome', sid: w.sid, resumed: true, a: 1 });
    expect((await cb.next('msg')).d).toEqual(['two']);
    // B is the holder now: A's link was replaced, quietly.
    expect((await ca.whenClosed()).code).toBe(1000);
    cb.send({ t: 'msg', s: 2, d: ['to B'] });
    await waitFor(() => b.got.get(w.sid)?.length === 1, { timeout: 3000, what: 'b.got.get(w.sid)?.length === 1' });
    expect(b.got.get(w.sid)).toEqual([['to B', 2]]);
    expect(a.got.get(w.sid)).toEqual([['to A', 1]]);
  });

  it('send() works from any server: A sends to a session whose link B holds', async () => {
    const redis = await services.redis();
    const a = await node(redis.url);
    const b = await node(redis.url);
    const c1 = a.client();
    const w = await c1.hello();
    const sessionA = await waitFor(() => a.opened[0], { timeout: 3000, what: 'a.opened[0]' });
    c1.terminate();
    const c2 = b.client();
    await c2.hello({ sid: w.sid, key: w.key, a: 0 });
    for (let i = 0; i < 50; i++) sessionA.send(i);
    await waitFor(() => c2.messages().length === 50, { timeout: 3000, what: 'c2.messages().length === 50' });
    expect(c2.messages()).toEqual(Array.from({ length: 50 }, (_, i) => [i + 1, i]));
  });

  it('a message resent to another server after a failover is delivered once', async () => {
    const redis = await services.redis();
    const a = await node(redis.url);
    const b = await node(redis.url);
    const c1 = a.client();
    const w = await c1.hello();
    c1.send({ t: 'msg', s: 1, d: ['m1', 'm2'] });
    await c1.next('ack');
    c1.terminate();
    // The client never saw the ack (as far as it knows): it resends from 1 on B.
    const c2 = b.client();
    const w2 = await c2.hello({ sid: w.sid, key: w.key, a: 0 });
    expect(w2.a).toBe(2); // B knows A had them
    c2.send({ t: 'msg', s: 1, d: ['m1', 'm2', 'm3'] });
    await waitFor(() => b.got.get(w.sid)?.length === 1, { timeout: 3000, what: 'b.got.get(w.sid)?.length === 1' });
    expect(b.got.get(w.sid)).toEqual([['m3', 3]]);
  });

  it('a resume needs the key, whichever server it reaches', async () => {
    const redis = await services.redis();
    const a = await node(redis.url);
    const b = await node(redis.url);
    const w = await a.client().hello();
    const wrong = await b.client().hello({ sid: w.sid, key: 'x'.repeat(24), a: 0 });
    expect(wrong.resumed).toBe(false);
    expect(wrong.sid).not.toBe(w.sid);
  });

  it('rt.broadcast() reaches every session of every server, disconnected ones included', async () => {
    const redis = await services.redis();
    const a = await node(redis.url);
    const b = await node(redis.url);
    const onA = a.client();
    await onA.hello();
    const onB = b.client();
    await onB.hello();
    const away = b.client();
    const wAway = await away.hello();
    away.terminate();
    await waitFor(() => b.opened.find((s) => s.id === wAway.sid && !s.connected), {
      timeout: 3000,
      what: 'b.opened.find((s) => s.id === wAway.sid && !s.connected)',
    });
    expect(await a.rt.broadcast({ hello: 'all' })).toBe(3);
    await waitFor(() => onA.messages().length === 1 && onB.messages().length === 1, {
      timeout: 3000,
      what: 'onA.messages().length === 1 && onB.messages().length === 1',
    });
    const back = a.client();
    await back.hello({ sid: wAway.sid, key: wAway.key, a: 0 });
    await waitFor(() => back.messages().length === 1, { timeout: 3000, what: 'back.messages().length === 1' });
    expect(back.messages()).toEqual([[1, { hello: 'all' }]]);
  });

  it('with Redis unreachable a hello is refused with 4500 (retryable), and served again once Redis is back', async () => {
    const redis = await services.redis();
    const a = await node(redis.url);
    await a.client().hello(); // connected once
    await redis.stop();
    await waitFor(() => !a.rt['engine'].available, { timeout: 5000, what: 'the engine of a to become unavailable' });
    const refused = a.client();
    await refused.opened();
    refused.send({ t: 'hello', v: [1], a: 0 });
    expect(await refused.next('close')).toEqual({ t: 'close', code: 4500, reason: 'session store unavailable' });
    await redis.start();
    await waitFor(() => a.rt['engine'].available, {
      timeout: 10_000,
      what: 'the engine of a to become available again',
    });
    expect((await a.client().hello()).t).toBe('welcome');
  });
});

describe('HTTP links across servers: a request reaching the server that does not hold its link is relayed to the one that does', () => {
  it('a stream link opened on A takes its POSTs through B: hello, messages, acks', async () => {
    const redis = await services.redis();
    const a = await node(redis.url);
    const b = await node(redis.url);
    const stream = await StreamClient.open(a.base, 'fetch-stream');
    const id = await stream.linkId();
    expect((await post(b.base, id, HELLO)).status).toBe(204);
    const w = await stream.next('welcome');
    expect((await post(b.base, id, { t: 'msg', s: 1, d: ['via B'] })).status).toBe(204);
    // The frame was handled where the link is: A delivered it, and its ack came on A's stream.
    await waitFor(() => a.got.get(w.sid)?.length === 1, { timeout: 3000, what: 'a.got.get(w.sid)?.length === 1' });
    expect(a.got.get(w.sid)).toEqual([['via B', 1]]);
    expect(b.got.get(w.sid)).toBeUndefined();
    expect((await stream.next('ack')).a).toBe(1);
  });

  it('a long-poll link opened on A: polls and POSTs alternate between A and B, nothing lost or repeated', async () => {
    const redis = await services.redis();
    const a = await node(redis.url);
    const b = await node(redis.url);
    const onA = await new PollClient(a.base).open();
    const onB = Object.assign(new PollClient(b.base), { id: onA.id });
    const welcome = (await onB.poll(5000, HELLO)).frames.find((f) => f.t === 'welcome')!;
    expect(welcome).toMatchObject({ resumed: false });
    const session = await waitFor(() => a.opened.find((s) => s.id === welcome.sid), {
      timeout: 3000,
      what: 'a.opened.find((s) => s.id === welcome.sid)',
    });
    const received: unknown[] = [];
    for (let i = 1; i <= 20; i++) {
      session.send(i);
      const via = i % 2 ? onA : onB;
      expect((await post(i % 2 ? b.base : a.base, onA.id, { t: 'msg', s: i, d: [`c${i}`] })).status).toBe(204);
      for (const f of (await via.poll(5000)).frames) if (f.t === 'msg') received.push(...f.d);
    }
    while (received.length < 20)
      for (const f of (await onA.poll(5000)).frames) if (f.t === 'msg') received.push(...f.d);
    expect(received).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await waitFor(() => a.got.get(welcome.sid)?.length === 20, {
      timeout: 3000,
      what: 'a.got.get(welcome.sid)?.length === 20',
    });
    expect(a.got.get(welcome.sid)!.map(([d]) => d)).toEqual(Array.from({ length: 20 }, (_, i) => `c${i + 1}`));
  });

  it("a link's id reaches the client only once every server can find the link: its first POST, through another server, is not 404", async () => {
    const redis = await services.redis();
    // A reaches Redis late (200 ms each way), as a busy or distant process would; B at once.
    const slow = await faultProxy({ targetPort: redis.port });
    services.defer(() => slow.close());
    const a = await node(`redis://127.0.0.1:${slow.port}`);
    const b = await node(redis.url);
    await (a.rt['engine'] as RedisEngine).client.ping(); // connected before the delay, so that only the delay differs
    slow.latency(200);
    for (const transport of ['fetch-stream', 'long-poll']) {
      const id =
        transport === 'long-poll'
          ? (await new PollClient(a.base).open()).id
          : await (await StreamClient.open(a.base, transport)).linkId();
      // The client's next request reaches B, which looks the link up in Redis.
      expect((await post(b.base, id, HELLO)).status, transport).toBe(204);
    }
  });

  it('a relayed request published twice (as ioredis does when the reply to a PUBLISH Redis ran is lost) is handled once', async () => {
    const redis = await services.redis();
    const a = await node(redis.url);
    const b = await node(redis.url);
    // B publishes each relayed request twice: what ioredis's resend after a reconnect does.
    const engineB = b.rt['engine'] as RedisEngine;
    const publish = engineB.send.bind(engineB);
    engineB.send = async (to, message) => {
      await publish(to, message);
      if (message.includes('"t":"post"')) await publish(to, message);
    };
    const stream = await StreamClient.open(a.base, 'fetch-stream');
    const id = await stream.linkId();
    expect((await post(b.base, id, HELLO)).status).toBe(204);
    const w = await stream.next('welcome');
    expect((await post(b.base, id, { t: 'msg', s: 1, d: ['once'] })).status).toBe(204);
    // Handled once: no second hello ('duplicate hello', 4400, which would end the session), no second delivery.
    expect(await stream.next()).toEqual({ t: 'ack', a: 1 });
    expect((await post(a.base, id, { t: 'msg', s: 2, d: ['direct'] })).status).toBe(204);
    expect(await stream.next()).toEqual({ t: 'ack', a: 2 });
    expect(a.got.get(w.sid)).toEqual([
      ['once', 1],
      ['direct', 2],
    ]);
  });

  it('a poll relayed to a link whose holder is gone gets 404, and so does an unknown link', async () => {
    const redis = await services.redis();
    const a = await node(redis.url, { pollTimeout: 1000, requestTimeout: 1000 });
    const b = await node(redis.url, { pollTimeout: 1000, requestTimeout: 1000 });
    const onA = await new PollClient(a.base).open();
    // The holder's process is gone (its subscription with it); its entry in the directory is not.
    await a.rt['engine'].close();
    const onB = Object.assign(new PollClient(b.base), { id: onA.id });
    expect((await onB.poll(500, HELLO)).status).toBe(404);
    expect((await post(b.base, 'no-such-link', HELLO)).status).toBe(404);
  });

  it('a poll held for a holder that dies gets 404 within seconds of its death, not after the poll and request bounds (a minute by default)', async () => {
    const redis = await services.redis();
    const a = await node(redis.url);
    const b = await node(redis.url);
    const onA = await new PollClient(a.base).open();
    const onB = Object.assign(new PollClient(b.base), { id: onA.id });
    const welcome = (await onB.poll(5000, HELLO)).frames.find((f) => f.t === 'welcome');
    expect(welcome).toBeDefined();
    // A poll through B, held by A for up to pollTimeout (25 s); then A dies as a killed process
    // does: no more beats, no subscription, and nothing tidied up in Redis.
    const held = onB.poll(25_000);
    const engineA = a.rt['engine'] as RedisEngine;
    await waitFor(() => engineA['ownLinks'].size === 1, { timeout: 3000, what: 'one link owned by engine A' }); // the link exists; the poll is on its way
    clearInterval(engineA['beatTimer']!);
    engineA['sub'].disconnect();
    const diedAt = Date.now();
    expect((await held).status).toBe(404);
    // At most the beat key's life (5 s) and one check (1 s), with room for a slow machine.
    expect(Date.now() - diedAt).toBeLessThan(9000);
  });
});
