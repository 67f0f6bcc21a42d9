// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  longPoll,
  plainSse,
  RealtimeClient,
  RealtimeError,
  websocket,
  type ClientOptions,
  type OpenContext,
  type RealtimeEventMap,
  type Transport,
} from '../../src/index';
import { RealtimeClient as CoreClient, upgradeProbes } from '../../src/core';
import type { Frame, HelloFrame } from '../../src/protocol';
import { containing, freshUrl, matching, MockV1, scripted, settle, testEnv, welcomeText, within } from './helpers';

let server: MockV1;
let client: RealtimeClient | undefined;

beforeEach(() => {
  vi.useFakeTimers();
  server = new MockV1(freshUrl());
});

afterEach(() => {
  client?.close();
  client = undefined;
  server.stop();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function connect(options: ClientOptions = {}) {
  const env = testEnv();
  client = new RealtimeClient(server.url, { transports: ['websocket'], ...options, env: { ...env, ...options.env } });
  return { client, env };
}

/** Records every event of the given types as [type, detail]. */
function record(c: RealtimeClient, ...types: (keyof RealtimeEventMap)[]) {
  const log: [string, unknown][] = [];
  for (const t of types) c.on(t, (d: unknown) => log.push([t, d]));
  return log;
}

describe('handshake', () => {
  it('sends hello as the first frame and reports open only after the welcome', async () => {
    const { client } = connect();
    const log = record(client, 'state', 'open');
    expect(client.state).toBe('connecting');
    await settle();
    expect(server.frames[0]).toMatchObject({ t: 'hello', v: [1], a: 0 });
    expect(server.hellos[0]!.sid).toBeUndefined();
    expect(client.state).toBe('open');
    expect(client.transport).toBe('websocket');
    expect(log).toEqual([
      ['state', { from: 'connecting', to: 'open' }],
      ['open', { transport: 'websocket', resumed: false }],
    ]);
  });

  it('auth: the token is fetched before every attempt and travels in hello, never in the URL', async () => {
    let n = 0;
    const { client } = connect({ auth: () => Promise.resolve(`token-${++n}`), reconnect: { initialDelay: 100 } });
    await settle();
    expect(server.hellos[0]!.token).toBe('token-1');
    expect(server.socket.url).not.toContain('token');
    server.drop();
    await settle(200);
    expect(server.hellos[1]!.token).toBe('token-2');
    expect(client.state).toBe('open');
  });

  it.each([
    ['header', { token: 'tok-1' }, {}],
    ['frame', {}, { token: 'tok-1' }],
    [undefined, {}, { token: 'tok-1' }],
  ] as const)(
    'auth: a transport with auth %s gets the token in its open context, or the hello frame carries it',
    async (auth, inCtx, inHello) => {
      const contexts: OpenContext[] = [];
      const sent: string[] = [];
      const t: Transport = {
        name: 'long-poll',
        auth,
        isSupported: () => true,
        open(_url, h, ctx) {
          contexts.push(ctx);
          setTimeout(() => h.onOpen(), 1);
          return { send: (x) => sent.push(x), close() {}, buffered: 0 };
        },
      };
      client = new RealtimeClient('ws://x', { transports: [t], auth: () => 'tok-1', env: testEnv() });
      await settle();
      expect(contexts).toHaveLength(1);
      expect({ token: contexts[0]!.token }).toEqual({ token: undefined, ...inCtx });
      const hello = JSON.parse(sent[0]!) as HelloFrame;
      expect(hello).toMatchObject({ t: 'hello' });
      expect({ token: hello.token }).toEqual({ token: undefined, ...inHello });
    },
  );

  it('autoConnect: false waits for connect()', async () => {
    const { client } = connect({ autoConnect: false });
    await settle();
    expect(client.state).toBe('closed');
    expect(server.sockets).toHaveLength(0);
    client.connect();
    await settle();
    expect(client.state).toBe('open');
  });
});

describe('sending', () => {
  it('send() resolves only when the server acknowledges the message', async () => {
    server.autoAck = false;
    const { client } = connect();
    await settle();
    let done = false;
    const p = client.send({ n: 1 }).then(() => (done = true));
    await settle();
    expect(server.messages).toEqual([{ n: 1 }]);
    expect(done).toBe(false);
    server.ack();
    await p;
    expect(done).toBe(true);
  });

  it('messages sent in one tick leave as one batched frame with consecutive sequence numbers', async () => {
    const { client } = connect();
    await settle();
    const all = Array.from({ length: 50 }, (_, i) => client.send(i));
    await within(Promise.all(all));
    const msgs = server.frames.filter((f) => f.t === 'msg');
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatchObject({ s: 1 });
    expect(server.messages).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('batches are split so that no frame exceeds the server maximum', async () => {
    server.welcome = { max: 300 };
    const { client } = connect();
    await settle();
    const all = Array.from({ length: 20 }, () => client.send('x'.repeat(50)));
    await within(Promise.all(all));
    const msgs = server.frames.filter((f) => f.t === 'msg');
    expect(msgs.length).toBeGreaterThan(1);
    for (const f of msgs) expect(JSON.stringify(f).length).toBeLessThanOrEqual(300);
    expect(server.messages).toHaveLength(20);
  });

  it('messages sent before the connection opens wait in the queue and arrive once, in order', async () => {
    const { client } = connect();
    const sent = [client.send('a'), client.send('b')];
    expect(server.messages).toEqual([]);
    await within(Promise.all(sent));
    expect(server.messages).toEqual(['a', 'b']);
  });

  it('the ack owed to the server rides on outgoing messages', async () => {
    const { client } = connect();
    await settle();
    server.push('x', 'y');
    await settle();
    void client.send('reply');
    await settle();
    expect(server.frames.find((f) => f.t === 'msg')).toMatchObject({ a: 2 });
    await settle(100);
    expect(server.frames.filter((f) => f.t === 'ack')).toEqual([]);
  });

  it('a standalone ack goes out after ackDelay when nothing else carries it', async () => {
    connect({ ackDelay: 40 });
    await settle();
    server.push('x');
    await settle(20);
    expect(server.frames.filter((f) => f.t === 'ack')).toEqual([]);
    await settle(30);
    expect(server.frames.filter((f) => f.t === 'ack')).toEqual([{ t: 'ack', a: 1 }]);
  });

  it('a large unacknowledged backlog is acked at once, without waiting for the delay', async () => {
    connect({ ackDelay: 10_000 });
    await settle();
    server.push(...Array.from({ length: 200 }, (_, i) => i));
    await settle();
    expect(server.frames.filter((f) => f.t === 'ack')).toEqual([{ t: 'ack', a: 200 }]);
  });
});

describe('send() errors', () => {
  it('unserialisable data rejects with not-serializable and leaves the queue usable', async () => {
    const { client } = connect();
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    await expect(client.send(cyclic)).rejects.toMatchObject({ code: 'not-serializable', data: cyclic });
    await expect(client.send(undefined)).rejects.toMatchObject({ code: 'not-serializable' });
    await expect(client.send(10n)).rejects.toBeInstanceOf(RealtimeError);
    await within(client.send('still fine'));
    expect(server.messages).toEqual(['still fine']);
  });

  it('a message over the server maximum rejects with message-too-large, is never sent, and leaves the queue usable', async () => {
    server.welcome = { max: 300 }; // the least a server may announce is 256
    const { client } = connect();
    await settle();
    const big = 'x'.repeat(500);
    const err = await client.send(big).catch((e: RealtimeError) => e);
    expect(err).toMatchObject({ code: 'message-too-large', data: big });
    expect((err as RealtimeError).message).toMatch(/500|502/);
    await within(client.send('small'));
    expect(server.messages).toEqual(['small']);
    expect(server.frames.find((f) => f.t === 'msg')).toMatchObject({ s: 1 });
  });

  it('a full queue rejects with queue-full by count and by bytes', async () => {
    const { client } = connect({ queue: { maxMessages: 2, maxBytes: 100 }, autoConnect: false });
    client.connect(); // queued while connecting
    const queued = [client.send(1), client.send(2)].map((p) => p.catch((e: RealtimeError) => e.code));
    await expect(client.send(3)).rejects.toMatchObject({ code: 'queue-full' });
    client.close();
    expect(await Promise.all(queued)).toEqual(['closed', 'closed']);
    const c2 = new RealtimeClient(server.url, { queue: { maxBytes: 10 }, env: testEnv() });
    await expect(c2.send('x'.repeat(20))).rejects.toMatchObject({
      code: 'queue-full',
      message: containing('queue.maxBytes'),
    });
    c2.close();
  });

  it('send() after close() rejects with closed', async () => {
    const { client } = connect();
    client.close();
    await expect(client.send('late')).rejects.toMatchObject({
      code: 'closed',
      data: 'late',
      message: containing('connect()'),
    });
  });

  it('close() rejects messages the server never acknowledged, with their data', async () => {
    server.autoAck = false;
    const { client } = connect();
    await settle();
    const p = client.send('unacked');
    await settle();
    client.close();
    await expect(p).rejects.toMatchObject({ code: 'closed', data: 'unacked' });
  });

  it('a URL that cannot be parsed is refused at once with invalid-argument', () => {
    expect(() => new RealtimeClient('http://[broken', { env: testEnv({ baseUrl: undefined }) })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' }),
    );
  });

  it('a transport whose open() throws counts as a failed attempt, not a stuck client', async () => {
    const boom: Transport = {
      name: 'websocket',
      isSupported: () => true,
      open() {
        throw new Error('boom');
      },
    };
    client = new RealtimeClient('ws://x', { transports: [boom], reconnect: { initialDelay: 100 }, env: testEnv() });
    const closes: RealtimeEventMap['close'][] = [];
    client.on('close', (c) => closes.push(c));
    await settle();
    expect(client.state).toBe('reconnecting');
    expect(closes[0]).toMatchObject({ code: 1006, reason: 'Error: boom', willReconnect: true });
  });

  it('a URL of another scheme, or not a string, is refused with invalid-argument saying what is accepted, never repeating its query string', () => {
    const refused = (url: unknown) => {
      try {
        new RealtimeClient(url as string, { env: testEnv() });
      } catch (err) {
        expect(err).toMatchObject({ code: 'invalid-argument' });
        return (err as Error).message;
      }
      throw new Error(`${String(url)} was accepted`);
    };
    expect(refused('ftp://example.com/realtime')).toBe(
      "bad URL 'ftp://example.com/realtime': its scheme is ftp:, and the client takes ws://, wss://, http:// or https:// URLs, or a path such as '/realtime' in a page",
    );
    expect(refused('localhost:8080/realtime')).toMatch(/its scheme is localhost:/); // a URL without its scheme
    expect(refused(undefined)).toMatch(/^bad URL undefined: the client takes ws:\/\//);
    expect(refused('ftp://example.com/realtime?token=s3cret')).not.toMatch(/s3cret/);
    expect(
      () => new RealtimeClient('wss://example.com/realtime', { autoConnect: false, env: testEnv() }),
    ).not.toThrow();
  });

  it('a misspelt option is refused with invalid-argument naming the closest valid one; transports given as a string is refused saying so', () => {
    const message = (options: object) => {
      try {
        new RealtimeClient(server.url, { env: testEnv(), ...options });
      } catch (err) {
        expect(err).toMatchObject({ code: 'invalid-argument' });
        return (err as Error).message;
      }
      throw new Error(`${JSON.stringify(options)} was accepted`);
    };
    expect(message({ transport: ['websocket'] })).toMatch(
      /^unknown option transport: did you mean transports\? \(the options are transports, protocol, /,
    );
    expect(message({ reconect: false })).toMatch(/^unknown option reconect: did you mean reconnect\?/);
    expect(message({ reconnect: { maxdelay: 5 } })).toMatch(
      /^unknown option reconnect\.maxdelay: did you mean reconnect\.maxDelay\? \(the options of reconnect are initialDelay, maxDelay/,
    );
    expect(message({ queue: { maxMessage: 5 } })).toMatch(/did you mean queue\.maxMessages\?/);
    expect(message({ heartbeat: { timout: 5 } })).toMatch(/did you mean heartbeat\.timeout\?/);
    expect(message({ colour: 'red' })).toMatch(/^unknown option colour: \(the options are /);
    expect(message({ transports: 'websocket' })).toBe(
      "options.transports must be an array of transport names or objects, such as ['websocket']; got the string 'websocket'",
    );
  });

  it('unknown transport names and protocols are refused with invalid-argument', () => {
    expect(() => new RealtimeClient(server.url, { transports: ['pigeon'], env: testEnv() })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' }),
    );
    expect(() => new RealtimeClient(server.url, { protocol: 'v9' as never, env: testEnv() })).toThrow(/protocol/);
  });

  it('a transport made for another protocol is refused with invalid-argument; in plain mode the HTTP names are the plain transports', () => {
    const env = testEnv({ fetch: () => new Promise(() => {}), EventSource: class {} as never });
    expect(() => new RealtimeClient(server.url, { transports: [plainSse()], env })).toThrow(
      expect.objectContaining({ code: 'invalid-argument', message: matching(/plain/) }),
    );
    expect(() => new RealtimeClient(server.url, { protocol: 'plain', transports: [longPoll()], env })).toThrow(
      expect.objectContaining({ code: 'invalid-argument', message: matching(/v1/) }),
    );
    const c = new RealtimeClient('http://rt.test/status', {
      protocol: 'plain',
      transports: ['long-poll'],
      autoConnect: false,
      env,
    });
    const v1 = new RealtimeClient('http://rt.test/status', {
      transports: ['long-poll', websocket()],
      autoConnect: false,
      env,
    });
    // Same name, the transport of each client's protocol: it fits, where the other one is refused above.
    expect(c.state).toBe('closed');
    expect(v1.state).toBe('closed');
  });
});

describe('receiving', () => {
  it('delivers each message once: replayed duplicates are dropped', async () => {
    const { client } = connect();
    const got: unknown[] = [];
    client.on('message', (d) => got.push(d));
    await settle();
    server.push('a', 'b');
    server.raw(JSON.stringify({ t: 'msg', s: 2, d: ['b', 'c'] }));
    await settle();
    expect(got).toEqual(['a', 'b', 'c']);
  });

  describe.each([
    ['malformed JSON', '{not json', /not valid JSON/],
    ['an unknown frame type', '{"t":"launch"}', /launch/],
    ['a JSON array', '[1,2]', /not a JSON object/],
    ['a frame whose t is an array nested 4,000 deep', `{"t":${'['.repeat(4000)}${']'.repeat(4000)}}`, /no string "t"/],
    ['a sequence number from the future', '{"t":"msg","s":99,"d":["x"]}', /seq 99/],
  ])('%s from the server', (_, text, what) => {
    it('is a typed protocol-error event naming it; the client resumes after backoff, and nothing delivered or acknowledged before is repeated or lost', async () => {
      const { client } = connect({ reconnect: { initialDelay: 1000 }, env: { random: () => 0.5 } });
      const errors: RealtimeError[] = [];
      const got: unknown[] = [];
      client.on('error', (e) => errors.push(e));
      client.on('message', (d) => got.push(d));
      await settle();
      server.push('a', 'b');
      await within(client.send('acked before'));
      server.autoAck = false;
      const unacked = client.send('in flight');
      await settle();
      server.raw(text);
      await settle();
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(RealtimeError);
      expect(errors[0]!.code).toBe('protocol-error');
      expect(errors[0]!.message).toMatch(what);
      expect(client.state).toBe('reconnecting');
      await settle(480); // the backoff delay is 500 ms: no attempt before it
      expect(server.sockets).toHaveLength(1);
      server.received = 1; // 'in flight' was lost on the way: the resume must bring it again
      server.messages.pop();
      server.autoAck = true;
      await settle(50);
      expect(server.sockets).toHaveLength(2);
      expect(client.state).toBe('open');
      expect(server.hellos[1]).toMatchObject({ sid: 'sid-1', key: 'key-1', a: 2 });
      server.raw(JSON.stringify({ t: 'msg', s: 1, d: ['a', 'b', 'c'] })); // a server replaying more than it must
      await within(unacked);
      expect(got).toEqual(['a', 'b', 'c']);
      expect(server.messages).toEqual(['acked before', 'in flight']);
      expect(server.frames.filter((f) => f.t === 'msg' && f.d.includes('acked before'))).toHaveLength(1);
    });

    it('sent after every welcome: the attempts back off, no tight reconnect loop', async () => {
      server.afterWelcome = [text];
      const { client } = connect({ reconnect: { initialDelay: 1000, maxDelay: 30_000 }, env: { random: () => 0.5 } });
      const errors: RealtimeError[] = [];
      client.on('error', (e) => errors.push(e));
      await settle(10_000);
      // Delays 500, 1000, 2000, 4000 ms: 5 connections in 10 s, where a loop would make thousands.
      expect(server.sockets.length).toBeGreaterThanOrEqual(4);
      expect(server.sockets.length).toBeLessThanOrEqual(5);
      expect(errors.every((e) => e.code === 'protocol-error')).toBe(true);
      expect(client.state).not.toBe('closed');
    });
  });

  it('a wrong content type (an HTML login page where the stream should be): one connect-failed error per attempt naming it, backoff, and queued messages wait', async () => {
    let requests = 0;
    const htmlPage = () => {
      requests++;
      return Promise.resolve({
        ok: true,
        status: 200,
        headers: new Headers({ 'Content-Type': 'text/html; charset=utf-8' }),
        body: null,
        text: () => Promise.resolve('<h1>Log in</h1>'),
      } as unknown as Response);
    };
    client = new RealtimeClient('http://portal.test/rt', {
      transports: ['fetch-stream', 'long-poll'],
      reconnect: { initialDelay: 1000 },
      env: testEnv({ fetch: htmlPage }),
    });
    const errors: RealtimeError[] = [];
    client.on('error', (e) => errors.push(e));
    let settled = false;
    void client
      .send('waits')
      .finally(() => (settled = true))
      .catch(() => {});
    await settle(10_000);
    // Attempts at 0, 0.5, 1.5, 3.5 and 7.5 s (delays 500, 1000, 2000, 4000), each trying both transports once.
    expect(errors.length).toBeGreaterThanOrEqual(4);
    expect(errors.length).toBeLessThanOrEqual(5);
    expect(requests).toBe(2 * errors.length);
    for (const e of errors) {
      expect(e).toMatchObject({ code: 'connect-failed' });
      expect(e.message).toContain('fetch-stream: 1006 content type text/html');
      expect(e.message).toContain('long-poll: 1006 content type text/html');
    }
    expect(client.state).toBe('reconnecting');
    expect(settled).toBe(false);
  });

  it('an ack of a message queued but not yet sent is a protocol-error: the message is sent after the resume, not resolved unsent', async () => {
    const { client } = connect({ reconnect: { initialDelay: 10, maxDelay: 10 } });
    const errors: RealtimeError[] = [];
    client.on('error', (e) => errors.push(e));
    await settle();
    await within(client.send('sent and acked'));
    let resolved = false;
    const queued = client.send('queued').then(() => (resolved = true));
    // In the same task: the message has its seq (2) but leaves only in a microtask.
    server.raw('{"t":"ack","a":2}');
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ['protocol-error', expect.stringContaining('ack 2 of unsent messages')],
    ]);
    expect(resolved).toBe(false);
    await within(queued);
    expect(server.messages).toEqual(['sent and acked', 'queued']);
  });

  it("a close frame's reason is cut to 123 bytes before it reaches events and errors", async () => {
    const { client } = connect();
    const closes: Array<{ code: number; reason: string }> = [];
    client.on('close', (c) => closes.push(c));
    const errors: RealtimeError[] = [];
    client.on('error', (e) => errors.push(e));
    await settle();
    server.raw(JSON.stringify({ t: 'close', code: 4403, reason: 'x'.repeat(1_000_000) }));
    await settle();
    expect(closes[0]).toEqual({ code: 4403, reason: 'x'.repeat(120) + '...', willReconnect: false });
    expect(errors[0]!.message.length).toBeLessThan(300);
  });

  it('a welcome max below 256 is a protocol-error, not a limit that makes every send() fail', async () => {
    server.welcome = { max: 0 };
    const { client } = connect({ reconnect: { initialDelay: 10, maxDelay: 10 } });
    const errors: RealtimeError[] = [];
    client.on('error', (e) => errors.push(e));
    await settle();
    expect(errors[0]).toMatchObject({
      code: 'protocol-error',
      message: containing('welcome max 0 < 256'),
    });
    expect(client.state).not.toBe('open');
  });

  it("once() resolves with the next event's detail, once: the open, then each next message", async () => {
    const { client } = connect();
    const opened = client.once('open');
    const first = client.once('message');
    await settle();
    expect(await opened).toEqual({ transport: 'websocket', resumed: false });
    server.push(1);
    expect(await first).toBe(1);
    const second = client.once('message');
    server.push(2);
    expect(await second).toBe(2);
  });

  it('on() returns an unsubscribe function that is safe to call twice', async () => {
    const { client } = connect();
    const got: unknown[] = [];
    const off = client.on('message', (d) => got.push(d));
    const viaTarget: unknown[] = [];
    client.addEventListener('message', (e) => viaTarget.push((e as CustomEvent).detail));
    await settle();
    server.push(1);
    await settle();
    off();
    off();
    server.push(2);
    await settle();
    expect(got).toEqual([1]);
    expect(viaTarget).toEqual([1, 2]);
  });

  it("on()'s listeners get messages without an event object: nothing is dispatched unless addEventListener is used", async () => {
    const { client } = connect();
    const made: string[] = [];
    const Native = globalThis.CustomEvent;
    vi.stubGlobal(
      'CustomEvent',
      class<T> extends Native<T> {
        constructor(type: string, init?: CustomEventInit<T>) {
          super(type, init);
          made.push(type);
        }
      },
    );
    const got: unknown[] = [];
    client.on('message', (d) => got.push(d));
    await settle();
    made.length = 0;
    for (let i = 0; i < 5; i++) server.push(i);
    await settle();
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(made).toEqual([]);
    // Once someone listens through the EventTarget, that type is dispatched as CustomEvents.
    const viaTarget: unknown[] = [];
    client.addEventListener('message', (e) => viaTarget.push(e.detail));
    server.push(5);
    await settle();
    expect(made).toEqual(['message']);
    expect(viaTarget).toEqual([5]);
  });

  it("on()'s listeners are called as EventTarget calls its own: in order, added meanwhile not now, removed meanwhile no more, a throw stops none", async () => {
    const { client } = connect();
    await settle();
    const calls: string[] = [];
    const uncaught: unknown[] = [];
    const offs: Record<string, () => void> = {};
    offs.a = client.on('message', (d) => {
      calls.push(`a${String(d)}`);
      if (d === 1) offs.late = client.on('message', (x) => calls.push(`late${String(x)}`));
      if (d === 1) offs.c!();
      throw new Error('listener a failed');
    });
    offs.b = client.on('message', (d) => calls.push(`b${String(d)}`));
    offs.c = client.on('message', (d) => calls.push(`c${String(d)}`));
    const same = (d: unknown) => calls.push(`same${String(d)}`);
    const offSame = client.on('message', same);
    client.on('message', same); // the same function twice: two subscriptions
    offSame();
    offSame();
    const rethrow = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((fn) => {
      try {
        fn();
      } catch (e) {
        uncaught.push(e);
      }
    });
    server.push(1);
    server.push(2);
    await vi.waitFor(() => expect(calls).toContain('late2'));
    rethrow.mockRestore();
    expect(calls).toEqual(['a1', 'b1', 'same1', 'a2', 'b2', 'same2', 'late2']);
    expect(uncaught.map((e) => (e as Error).message)).toEqual(['listener a failed', 'listener a failed']);
  });
});

describe('maxFrameSize: the largest frame taken from the server', () => {
  /** A frame of exactly `bytes` bytes of UTF-8 carrying message `s`, made of `char` (1 or 2 bytes each). */
  const frameOf = (s: number, bytes: number, char = 'x') => {
    const shell = `{"t":"msg","s":${s},"d":[""]}`;
    return `{"t":"msg","s":${s},"d":["${char.repeat((bytes - shell.length) / new TextEncoder().encode(char).length)}"]}`;
  };

  it('hello announces it as max: 1048576 by default, or the option', async () => {
    connect();
    await settle();
    expect(server.hellos[0]).toMatchObject({ max: 1048576 });
    client!.close();
    const other = new MockV1(freshUrl());
    client = new RealtimeClient(other.url, { transports: ['websocket'], maxFrameSize: 4096, env: testEnv() });
    await settle();
    expect(other.hellos[0]).toMatchObject({ max: 4096 });
    other.stop();
  });

  it.each([[100], [1.5], [NaN], [Infinity]])('maxFrameSize %s is refused with invalid-argument', (max) => {
    expect(() => new RealtimeClient(server.url, { maxFrameSize: max, env: testEnv() })).toThrow(
      expect.objectContaining({ code: 'invalid-argument', message: matching(/maxFrameSize/) }),
    );
  });

  it('a frame over it: a message-too-large error naming size and limit; what came before stays delivered, once; resume after backoff asks for what follows', async () => {
    const { client } = connect({ maxFrameSize: 1000, reconnect: { initialDelay: 1000 } });
    const got: unknown[] = [];
    const errors: RealtimeError[] = [];
    client.on('message', (d) => got.push(d));
    client.on('error', (e) => errors.push(e));
    await settle();
    server.push('a', 'b');
    server.raw(frameOf(3, 1000)); // exactly the limit: taken
    server.raw(frameOf(4, 1001));
    await settle();
    expect(got).toHaveLength(3);
    expect(got.slice(0, 2)).toEqual(['a', 'b']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(RealtimeError);
    expect(errors[0]).toMatchObject({ code: 'message-too-large' });
    expect(errors[0]!.message).toMatch(/1001 B.*maxFrameSize \(1000 B\): raise it.*smaller messages/);
    expect(client.state).toBe('reconnecting');
    // Backoff (random 0.5 × 1000 ms), not at once.
    await settle(400);
    expect(server.sockets).toHaveLength(1);
    await settle(200);
    expect(server.sockets).toHaveLength(2);
    expect(client.state).toBe('open');
    expect(server.hellos[1]).toMatchObject({ sid: 'sid-1', a: 3, max: 1000 });
    expect(got).toHaveLength(3);
  });

  it('sizes are UTF-8 bytes, not UTF-16 units: 2-byte characters count twice', async () => {
    const { client } = connect({ maxFrameSize: 1000 });
    const errors: RealtimeError[] = [];
    client.on('error', (e) => errors.push(e));
    await settle();
    const frame = frameOf(1, 1002, 'é');
    expect(frame.length).toBeLessThan(1000); // only its byte count is over
    server.raw(frame);
    await settle();
    expect(errors).toMatchObject([{ code: 'message-too-large' }]);
  });

  it('a server that sends an oversized frame on every connection: attempts follow the backoff, no tight loop', async () => {
    server.server.on('connection', (s) => {
      s.on('message', (raw) => {
        if (typeof raw === 'string' && (JSON.parse(raw) as Frame).t === 'hello')
          setTimeout(() => s.send(frameOf(1, 2000)), 2); // after the welcome
      });
    });
    const { client } = connect({ maxFrameSize: 1000, reconnect: { initialDelay: 1000, factor: 2, maxDelay: 30000 } });
    const errors: RealtimeError[] = [];
    client.on('error', (e) => errors.push(e));
    await settle(16_000);
    // Delays 500, 1000, 2000, 4000, 8000 (random 0.5): attempts at 0, 0.5, 1.5, 3.5, 7.5 and 15.5 s.
    expect(server.sockets).toHaveLength(6);
    expect(errors).toHaveLength(6);
    expect(errors.every((e) => e.code === 'message-too-large')).toBe(true);
  });

  it('plain mode: a line over it is refused the same way', async () => {
    const { client } = connect({ protocol: 'plain', maxFrameSize: 300 });
    const got: unknown[] = [];
    const errors: RealtimeError[] = [];
    client.on('message', (d) => got.push(d));
    client.on('error', (e) => errors.push(e));
    await settle();
    server.raw('{"ok":1}');
    server.raw('y'.repeat(301));
    await settle();
    expect(got).toEqual([{ ok: 1 }]);
    expect(errors).toMatchObject([{ code: 'message-too-large' }]);
    expect(client.state).toBe('reconnecting');
  });
});

describe('reconnect', () => {
  it('after a drop it waits a full-jitter delay, then resumes the session', async () => {
    const { client } = connect({ reconnect: { initialDelay: 1000, factor: 2 }, env: { random: () => 0.25 } });
    const log = record(client, 'reconnecting', 'close');
    await settle();
    server.drop();
    await settle();
    expect(log).toEqual([
      ['close', { code: 1006, reason: 'dropped', willReconnect: true }],
      ['reconnecting', { attempt: 1, delay: 250 }],
    ]);
    expect(client.state).toBe('reconnecting');
    await settle(200);
    expect(server.sockets).toHaveLength(1);
    await settle(60);
    expect(server.sockets).toHaveLength(2);
    expect(client.state).toBe('open');
    expect(server.hellos[1]).toMatchObject({ sid: 'sid-1', key: 'key-1' });
  });

  it('the delay bound grows by factor per failed attempt and is capped at maxDelay', async () => {
    client = new RealtimeClient('ws://x', {
      transports: [refused()],
      reconnect: { initialDelay: 100, factor: 3, maxDelay: 1000 },
      env: testEnv({ random: () => 0.999 }),
    });
    const delays: number[] = [];
    client.on('reconnecting', (d) => delays.push(d.delay));
    await settle(10_000);
    expect(delays.slice(0, 4)).toEqual([99, 299, 899, 999]);
  });

  it('the attempt counter resets only after the connection stayed open for resetAfter', async () => {
    const { client } = connect({
      reconnect: { initialDelay: 100, factor: 10, resetAfter: 1000 },
      env: { random: () => 0.5 },
    });
    const delays: number[] = [];
    client.on('reconnecting', (d) => delays.push(d.delay));
    await settle();
    server.drop();
    await settle(100); // reconnected after 50 ms, open for well under resetAfter
    server.drop();
    await settle(600); // second delay is 500: attempt was not reset
    await settle(1100); // now open longer than resetAfter
    server.drop();
    await settle();
    expect(delays).toEqual([50, 500, 50]);
  });

  it('resume: messages the server had not acknowledged are sent again and arrive once', async () => {
    server.autoAck = false;
    const { client } = connect({ reconnect: { initialDelay: 10 } });
    await settle();
    const p1 = client.send('one');
    const p2 = client.send('two');
    await settle();
    expect(server.messages).toEqual(['one', 'two']);
    server.received = 1; // the server lost 'two' on the wire
    server.messages.pop();
    server.drop();
    await settle(50);
    server.ack();
    await Promise.all([p1, p2]);
    expect(server.hellos[1]).toMatchObject({ sid: 'sid-1' });
    expect(server.messages).toEqual(['one', 'two']);
  });

  it('session lost: sent-but-unacknowledged messages reject with session-lost, unsent ones go to the new session', async () => {
    server.autoAck = false;
    const { client } = connect({ reconnect: { initialDelay: 100 } });
    const errors: RealtimeError[] = [];
    client.on('error', (e) => errors.push(e));
    await settle();
    const sent = client.send('in flight').catch((e: unknown) => e);
    await settle();
    server.drop();
    await settle(10);
    expect(client.state).toBe('reconnecting');
    const later = client.send('written while away');
    server.resumable = false;
    server.autoAck = true;
    server.messages = [];
    await settle(100);
    expect(errors[0]).toMatchObject({ code: 'session-lost' });
    expect(await sent).toMatchObject({ code: 'session-lost', data: 'in flight' });
    await later;
    expect(server.messages).toEqual(['written while away']);
    expect(server.frames.at(-1)).toMatchObject({ t: 'msg', s: 1 });
  });

  it('a do-not-reconnect close code ends the client with connection-refused and no more attempts', async () => {
    const { client } = connect({ reconnect: { initialDelay: 10 } });
    const log = record(client, 'close', 'error');
    await settle();
    server.drop(4403);
    await settle(1000);
    expect(client.state).toBe('closed');
    expect(log[0]).toEqual(['close', { code: 4403, reason: 'dropped', willReconnect: false }]);
    expect(log[1]![1]).toMatchObject({ code: 'connection-refused', closeCode: 4403 });
    expect(server.sockets).toHaveLength(1);
  });

  it('a close frame from the server is honoured like a close code', async () => {
    const { client } = connect({ reconnect: { initialDelay: 10 } });
    await settle();
    server.raw(JSON.stringify({ t: 'close', code: 4403, reason: 'banned' }));
    await settle(100);
    expect(client.state).toBe('closed');
    expect(server.sockets).toHaveLength(1);
  });

  it('close(): no further attempts, whatever the timers do', async () => {
    const { client } = connect({ reconnect: { initialDelay: 10 } });
    await settle();
    server.drop();
    await settle(1);
    client.close();
    await settle(60_000);
    expect(server.sockets).toHaveLength(1);
    expect(client.state).toBe('closed');
  });

  it('maxAttempts: gives up with reconnect-failed after that many failures', async () => {
    client = new RealtimeClient('ws://x', {
      transports: [refused()],
      reconnect: { initialDelay: 10, maxAttempts: 3 },
      env: testEnv(),
    });
    const errors: RealtimeError[] = [];
    const attempts: number[] = [];
    client.on('error', (e) => errors.push(e));
    client.on('reconnecting', (r) => attempts.push(r.attempt));
    await settle(5000);
    expect(attempts).toEqual([1, 2, 3]);
    expect(client.state).toBe('closed');
    // Each failed attempt is reported with its reasons; then the client gives up.
    expect(errors.map((e) => e.code)).toEqual([
      'connect-failed',
      'connect-failed',
      'connect-failed',
      'reconnect-failed',
    ]);
    expect(errors[0]!.message).toContain('websocket: 1006 refused');
  });

  it('reconnect: false never reconnects', async () => {
    const { client } = connect({ reconnect: false });
    await settle();
    server.drop();
    await settle(60_000);
    expect(client.state).toBe('closed');
    expect(server.sockets).toHaveLength(1);
  });

  it('while navigator.onLine is false no attempt is burnt; online retries at once', async () => {
    const { client, env } = connect({ reconnect: { initialDelay: 60_000 } });
    const delays: number[] = [];
    client.on('reconnecting', (d) => delays.push(d.delay));
    await settle();
    env.navigator.onLine = false;
    server.drop();
    await settle(120_000);
    expect(server.sockets).toHaveLength(1);
    expect(delays).toEqual([]);
    env.navigator.onLine = true;
    env.window.dispatchEvent(new Event('online'));
    await settle();
    expect(server.sockets).toHaveLength(2);
    expect(client.state).toBe('open');
  });

  it("the 'online' event cuts a backoff wait short", async () => {
    const { client, env } = connect({ reconnect: { initialDelay: 60_000 } });
    await settle();
    server.drop();
    await settle();
    expect(client.state).toBe('reconnecting');
    env.window.dispatchEvent(new Event('online'));
    await settle();
    expect(client.state).toBe('open');
  });
});

describe('liveness', () => {
  it('no frame for interval + timeout: the connection is replaced', async () => {
    const { client } = connect({ heartbeat: { timeout: 500 }, reconnect: { initialDelay: 10 } });
    const closes: RealtimeEventMap['close'][] = [];
    client.on('close', (c) => closes.push(c));
    await settle();
    await settle(1400); // hb 1000 + timeout 500 = 1500 after the welcome
    expect(closes).toEqual([]);
    await settle(200);
    expect(closes[0]).toMatchObject({ code: 4408, willReconnect: true });
  });

  it('any inbound frame, a ping included, resets the deadline', async () => {
    const { client } = connect({ heartbeat: { timeout: 500 } });
    const closes: RealtimeEventMap['close'][] = [];
    client.on('close', (c) => closes.push(c));
    await settle();
    for (let i = 0; i < 5; i++) {
      await settle(1000);
      server.raw('{"t":"ping"}');
    }
    await settle();
    expect(closes).toEqual([]);
    expect(server.frames.filter((f) => f.t === 'pong').length).toBe(5);
  });

  it('a throttled background tab: visibilitychange checks the wall clock even though no timer fired', async () => {
    const { client, env } = connect({ heartbeat: { timeout: 500 } });
    const closes: RealtimeEventMap['close'][] = [];
    client.on('close', (c) => closes.push(c));
    await settle();
    vi.setSystemTime(Date.now() + 60_000); // the clock moves, timers are held back
    env.document.dispatchEvent(new Event('visibilitychange'));
    expect(closes[0]).toMatchObject({ code: 4408 });
  });

  it.each([
    ["a frozen page thaws (Page Lifecycle 'resume' on document)", 'document', 'resume'],
    ["the network comes back while the connection looks open ('online' on window)", 'window', 'online'],
  ] as const)(
    '%s: the liveness check runs at once and a dead connection is replaced without waiting for the timer',
    async (_, target, type) => {
      const { client, env } = connect({ heartbeat: { timeout: 500 }, reconnect: { initialDelay: 10 } });
      const closes: RealtimeEventMap['close'][] = [];
      client.on('close', (c) => closes.push(c));
      await settle();
      expect(client.state).toBe('open');
      vi.setSystemTime(Date.now() + 60_000); // frozen or asleep: the clock moved, no timer fired
      env[target].dispatchEvent(new Event(type));
      expect(closes).toEqual([{ code: 4408, reason: 'heartbeat timeout', willReconnect: true }]);
      await settle(50);
      expect(server.sockets).toHaveLength(2);
      expect(server.hellos[1]).toMatchObject({ sid: 'sid-1', key: 'key-1' });
    },
  );

  it.each([
    ['resume', 'document'],
    ['online', 'window'],
  ] as const)("'%s' on a live connection changes nothing: it is only a check", async (type, target) => {
    const { client, env } = connect({ heartbeat: { timeout: 500 } });
    const closes: RealtimeEventMap['close'][] = [];
    client.on('close', (c) => closes.push(c));
    await settle();
    env[target].dispatchEvent(new Event(type));
    await settle();
    expect(closes).toEqual([]);
    expect(client.state).toBe('open');
    expect(server.sockets).toHaveLength(1);
  });

  it('plain mode uses idleTimeout', async () => {
    server.server.on('connection', () => {});
    const { client } = connect({ protocol: 'plain', heartbeat: { idleTimeout: 3000 } });
    const closes: RealtimeEventMap['close'][] = [];
    client.on('close', (c) => closes.push(c));
    await settle();
    await settle(2900);
    expect(closes).toEqual([]);
    await settle(200);
    expect(closes[0]).toMatchObject({ code: 4408 });
  });
});

describe('plain mode', () => {
  it('frames are delivered as they come (JSON parsed, else text) and send() resolves once handed over', async () => {
    const { client } = connect({ protocol: 'plain' });
    const got: unknown[] = [];
    client.on('message', (d) => got.push(d));
    await settle();
    expect(server.frames).toEqual([]); // no hello
    expect(client.state).toBe('open');
    server.raw('{"price":3}');
    server.raw('hello there');
    await settle();
    expect(got).toEqual([{ price: 3 }, 'hello there']);
    const raw: string[] = [];
    server.socket.on('message', (m) => raw.push(typeof m === 'string' ? m : '(binary)'));
    await client.send('as is');
    await client.send({ o: 1 });
    await settle();
    expect(raw).toEqual(['as is', '{"o":1}']);
  });
});

/** A transport that never gets through: each attempt is refused a moment after it starts. */
function refused(): Transport {
  return {
    name: 'websocket',
    isSupported: () => true,
    open(_url, h) {
      setTimeout(() => h.onClose(1006, 'refused'), 1);
      return { send() {}, close() {}, buffered: 0 };
    },
  };
}

describe('transports', () => {
  it('a stale connection attempt is ignored: its late callbacks change nothing', async () => {
    const a = scripted('websocket');
    client = new RealtimeClient('ws://x', {
      transports: [a.t],
      reconnect: { initialDelay: 10 },
      heartbeat: { timeout: 100 },
      env: testEnv(),
    });
    const got: unknown[] = [];
    client.on('message', (d) => got.push(d));
    await settle(150); // attempt 1 never opens: the timeout drops it
    await settle(20);
    expect(a.opened.length).toBe(2);
    const [old, current] = a.opened;
    old!.onOpen();
    old!.onFrame(welcomeText());
    old!.onClose(1006, '');
    expect(client.state).toBe('reconnecting');
    expect(a.sent).toEqual([]);
    current!.onOpen();
    expect(JSON.parse(a.sent[0]!)).toMatchObject({ t: 'hello' });
    current!.onFrame(welcomeText());
    expect(client.state).toBe('open');
  });

  it('a transport that fails before opening falls back to the next at once, without backoff', async () => {
    const a = scripted('websocket');
    const b = scripted('sse');
    client = new RealtimeClient('ws://x', { transports: [a.t, b.t], env: testEnv() });
    const log = record(client, 'reconnecting', 'transport');
    await settle(0);
    a.opened[0]!.onClose(1006, 'refused');
    expect(b.opened).toHaveLength(1);
    b.opened[0]!.onOpen();
    expect(client.transport).toBe('sse');
    expect(log).toEqual([['transport', { from: null, to: 'sse' }]]);
  });

  it('an attempt that fails on every transport reports one connect-failed error naming each reason', async () => {
    const a = scripted('websocket');
    const b = scripted('long-poll');
    client = new RealtimeClient('ws://x', { transports: [a.t, b.t], env: testEnv() });
    const errors: RealtimeError[] = [];
    client.on('error', (e) => errors.push(e));
    await settle(0);
    a.opened[0]!.onClose(1006, 'refused');
    expect(errors).toEqual([]); // falling back is not an error yet
    b.opened[0]!.onClose(1006, 'HTTP 404');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'connect-failed' });
    expect(errors[0]!.message).toContain('websocket: 1006 refused; long-poll: 1006 HTTP 404');
    expect(client.state).toBe('reconnecting');
  });

  it('unsupported transports are skipped, and none supported is an unsupported error', async () => {
    client = new RealtimeClient('ws://x', {
      transports: ['websocket'],
      env: testEnv({ WebSocket: undefined }),
      autoConnect: false,
    });
    const errors: RealtimeError[] = [];
    client.on('error', (e) => errors.push(e));
    client.connect();
    await settle();
    expect(errors[0]).toMatchObject({ code: 'unsupported' });
    expect(client.state).toBe('closed');
  });
});

describe('transport memory and upgrade', () => {
  const welcome = welcomeText();

  function memory() {
    const store = new Map<string, string>();
    return {
      store,
      storage: {
        getItem: (k: string) => store.get(k) ?? null,
        setItem: (k: string, v: string) => void store.set(k, v),
        removeItem: (k: string) => void store.delete(k),
      },
    };
  }

  it('a fallback transport is remembered per URL, and forgotten once 30 minutes have passed', async () => {
    const { storage } = memory();
    const make = async () => {
      const a = scripted('websocket');
      const b = scripted('long-poll');
      const c = new RealtimeClient('ws://x/rt', {
        transports: [a.t, b.t],
        probeInterval: 0,
        env: testEnv({ storage }),
      });
      await settle(0);
      return { a, b, c };
    };
    const first = await make();
    first.a.opened[0]!.onClose(1006, 'blocked');
    first.b.opened[0]!.onOpen();
    first.b.opened[0]!.onFrame(welcome);
    first.c.close();

    const second = await make();
    expect(second.a.opened).toHaveLength(0); // straight to long-poll
    expect(second.b.opened).toHaveLength(1);
    second.c.close();

    vi.setSystemTime(Date.now() + 31 * 60_000);
    const third = await make();
    expect(third.a.opened).toHaveLength(1);
    third.c.close();
  });

  it("the memory comes with the upgrade part: 'realtime-client/core' without `upgrade` falls back within the attempt but neither remembers nor probes", async () => {
    const { store, storage } = memory();
    const make = async (options: ClientOptions) => {
      const a = scripted('websocket');
      const b = scripted('long-poll');
      const c = new CoreClient('ws://x/rt', {
        transports: [a.t, b.t],
        probeInterval: 1000,
        env: testEnv({ storage }),
        ...options,
      });
      await settle(0);
      a.opened[0]?.onClose(1006, 'blocked');
      b.opened[0]!.onOpen();
      b.opened[0]!.onFrame(welcome);
      return { a, b, c };
    };
    const bare = await make({});
    expect(bare.c.transport).toBe('long-poll'); // the fallback itself is core
    expect(store.size).toBe(0);
    await settle(5000);
    expect(bare.a.opened).toHaveLength(1); // no probe
    bare.c.close();

    const withUpgrade = await make({ upgrade: upgradeProbes() });
    expect(store.size).toBe(1);
    withUpgrade.c.close();
    const next = await make({});
    expect(next.a.opened).toHaveLength(1); // a core client without the part starts from the first again
    next.c.close();
  });

  it('after a fallback the first transport is probed; when it opens the session moves over by resume', async () => {
    const a = scripted('websocket');
    const b = scripted('sse');
    client = new RealtimeClient('ws://x', { transports: [a.t, b.t], probeInterval: 1000, env: testEnv() });
    const seen: unknown[] = [];
    client.on('transport', (t) => seen.push(t.to));
    await settle(0);
    a.opened[0]!.onClose(1006, 'blocked');
    b.opened[0]!.onOpen();
    b.opened[0]!.onFrame(welcome);
    expect(client.transport).toBe('sse');
    await settle(999);
    expect(a.opened).toHaveLength(1);
    await settle(1);
    expect(a.opened).toHaveLength(2); // the probe
    a.opened[1]!.onOpen();
    expect(a.opened).toHaveLength(3); // the move: a new connection that resumes
    a.opened[2]!.onOpen();
    expect(JSON.parse(a.sent.at(-1)!)).toMatchObject({ t: 'hello', sid: 's', key: 'k' });
    a.opened[2]!.onFrame(JSON.stringify({ ...JSON.parse(welcome), resumed: true }));
    expect(client.transport).toBe('websocket');
    expect(client.state).toBe('open');
    expect(seen).toEqual(['sse', 'websocket']);
  });

  it('a probe of a header-auth transport carries no token; the move after it asks auth() and hands that transport the fresh token', async () => {
    const a = scripted('long-poll', 'header');
    const b = scripted('websocket');
    let n = 0;
    client = new RealtimeClient('ws://x', {
      transports: [a.t, b.t],
      probeInterval: 1000,
      auth: () => `tok-${++n}`,
      env: testEnv(),
    });
    await settle(0);
    expect(a.contexts[0]!.token).toBe('tok-1');
    a.opened[0]!.onClose(1006, 'blocked');
    await settle(0);
    b.opened[0]!.onOpen();
    // The same attempt: the transports it tries share its token, and a never sent it.
    expect((JSON.parse(b.sent[0]!) as HelloFrame).token).toBe('tok-1');
    b.opened[0]!.onFrame(welcome);
    await settle(1000);
    expect(a.contexts).toHaveLength(2); // the probe: no hello, no token
    expect(a.contexts[1]!.token).toBeUndefined();
    a.opened[1]!.onOpen();
    await settle(0);
    expect(n).toBe(2);
    expect(a.contexts[2]!.token).toBe('tok-2');
    a.opened[2]!.onOpen();
    const hello = JSON.parse(a.sent.at(-1)!) as HelloFrame;
    expect(hello).toMatchObject({ t: 'hello', sid: 's', key: 'k' });
    expect(hello.token).toBeUndefined();
    a.opened[2]!.onFrame(JSON.stringify({ ...JSON.parse(welcome), resumed: true }));
    expect(client.transport).toBe('long-poll');
    expect(client.state).toBe('open');
  });

  it('a failed probe keeps the session where it is and probes again later', async () => {
    const a = scripted('websocket');
    const b = scripted('sse');
    client = new RealtimeClient('ws://x', { transports: [a.t, b.t], probeInterval: 1000, env: testEnv() });
    await settle(0);
    a.opened[0]!.onClose(1006, 'blocked');
    b.opened[0]!.onOpen();
    b.opened[0]!.onFrame(welcome);
    await settle(1000);
    a.opened[1]!.onClose(1006, 'still blocked');
    expect(client.transport).toBe('sse');
    expect(client.state).toBe('open');
    await settle(1000);
    expect(a.opened).toHaveLength(3);
  });
});

describe('failing to open', () => {
  const welcome = welcomeText();

  it('a 1006 soon after the session opened counts as failing to open: the next transport is tried at once', async () => {
    const a = scripted('websocket');
    const b = scripted('sse');
    client = new RealtimeClient('ws://x', { transports: [a.t, b.t], reconnect: { resetAfter: 5000 }, env: testEnv() });
    await settle(0);
    a.opened[0]!.onOpen();
    a.opened[0]!.onFrame(welcome);
    await settle(1000);
    a.opened[0]!.onClose(1006, 'killed by a proxy');
    expect(b.opened).toHaveLength(1);
    expect(client.state).toBe('reconnecting');
  });

  it('a 1006 after the connection proved stable is an ordinary drop: same transport, after backoff', async () => {
    const a = scripted('websocket');
    const b = scripted('sse');
    client = new RealtimeClient('ws://x', {
      transports: [a.t, b.t],
      reconnect: { resetAfter: 5000, initialDelay: 100 },
      env: testEnv(),
    });
    await settle(0);
    a.opened[0]!.onOpen();
    a.opened[0]!.onFrame(welcome);
    await settle(6000);
    a.opened[0]!.onClose(1006, 'network blip');
    expect(b.opened).toHaveLength(0);
    await settle(100);
    expect(a.opened).toHaveLength(2);
  });
});

describe('page lifecycle', () => {
  /** A PageTransitionEvent as the browser fires it: `persisted` says the back/forward cache is involved. */
  const transition = (type: string, persisted: boolean) => Object.assign(new Event(type), { persisted });

  it('pagehide into the back/forward cache lets the connection go, keeping the session; pageshow resumes at once', async () => {
    const { client, env } = connect({ reconnect: { initialDelay: 60_000 } });
    const closes: RealtimeEventMap['close'][] = [];
    client.on('close', (c) => closes.push(c));
    await settle();
    expect(client.state).toBe('open');
    env.window.dispatchEvent(transition('pagehide', true));
    expect(client.state).toBe('reconnecting');
    expect(closes).toEqual([{ code: 4000, reason: 'page frozen', willReconnect: true }]);
    await settle(); // the server sees the close, not a goodbye: its session stays
    expect(server.sockets).toHaveLength(1);
    env.window.dispatchEvent(transition('pageshow', true));
    await settle();
    expect(client.state).toBe('open');
    expect(server.hellos[1]).toMatchObject({ sid: 'sid-1', key: 'key-1' });
  });

  it('a pagehide that is a real unload (not persisted) changes nothing', async () => {
    const { client, env } = connect();
    await settle();
    env.window.dispatchEvent(transition('pagehide', false));
    expect(client.state).toBe('open');
  });
});

describe('per-message ttl and latest-value keys', () => {
  it('ttl: a message still queued when its ttl passes rejects with expired; the others keep their order', async () => {
    const { client, env } = connect({ reconnect: { initialDelay: 100 } });
    await settle();
    env.navigator.onLine = false;
    server.drop();
    await settle();
    const a = client.send('a');
    const stale = client.send('stale', { ttl: 1000 }).catch((e: unknown) => e);
    const b = client.send('b');
    await settle(1000);
    expect(await stale).toMatchObject({ code: 'expired', data: 'stale' });
    env.navigator.onLine = true;
    env.window.dispatchEvent(new Event('online'));
    await within(Promise.all([a, b]));
    expect(server.messages).toEqual(['a', 'b']); // numbered 1, 2: no gap where 'stale' was
  });

  it('ttl: a message sent in time is not affected when its ttl passes later', async () => {
    const { client } = connect();
    await settle();
    await within(client.send('on time', { ttl: 100 }));
    await settle(200);
    expect(server.messages).toEqual(['on time']);
  });

  it('key: a cursor position queued twice keeps only the last; both promises resolve with it', async () => {
    const { client } = connect({ autoConnect: false });
    client.connect();
    const first = client.send({ x: 1 }, { key: 'cursor' });
    const other = client.send('chat');
    const last = client.send({ x: 2 }, { key: 'cursor' });
    await within(Promise.all([first, other, last]));
    expect(server.messages).toEqual(['chat', { x: 2 }]);
  });
});
