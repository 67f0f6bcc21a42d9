// @vitest-environment node
import type { IncomingMessage, Server } from 'node:http';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { RealtimeServer, type RealtimeServerOptions, type Session } from '../../src/server';
import type { MemoryState } from '../../src/server/state/memory';
import { testScope, type Running } from './harness';
import { parseFrame, RawClient, wsText } from './raw-client';
import { waitFor } from '../wait';

const scope = testScope();
let httpServer: Server | null = null;
const clients: RawClient[] = [];

/** The reference server beside an app that answers 'ok', closed after the test. */
async function start(options: Omit<RealtimeServerOptions, 'server'> = {}): Promise<Running> {
  const s = await scope.server(options, { app: (_req, res) => res.end('ok') });
  httpServer = s.http;
  return s;
}

function client(url: string, headers?: Record<string, string>): RawClient {
  const c = new RawClient(url, headers);
  clients.push(c);
  return c;
}

/** A server with one client that said hello: its welcome and its session. */
async function connected(
  options: Omit<RealtimeServerOptions, 'server'> = {},
  hello?: Parameters<RawClient['hello']>[0],
) {
  const { rt, url } = await start(options);
  const sessionP = nextSession(rt);
  const c = client(url);
  const w = await c.hello(hello);
  return { rt, url, c, w, s: await sessionP };
}

/** How an upgrade to `url` was answered: 101 (opened) or the HTTP status of the refusal. */
function upgradeAnswer(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('open', () => {
      resolve(101);
      ws.terminate();
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    ws.on('error', (err) => reject(err));
  });
}

/** Resolves with the next new session. */
function nextSession(server: RealtimeServer): Promise<Session> {
  return new Promise((resolve) => server.once('connection', resolve));
}

afterEach(() => {
  for (const c of clients.splice(0)) c.terminate();
  httpServer = null;
});

const b64urlBits = (s: string): number => {
  expect(s).toMatch(/^[A-Za-z0-9_-]+$/);
  return Buffer.from(s, 'base64url').length * 8;
};

// ---- tests ----------------------------------------------------------------------------------

describe('RealtimeServer handshake', () => {
  it('answers hello with a complete welcome and fires connection once', async () => {
    const { rt, url } = await start({ heartbeatInterval: 1234, maxMessageBytes: 4096 });
    let connections = 0;
    rt.on('connection', () => connections++);
    const c = client(url);
    const welcome = await c.hello();
    expect(c.frames[0]).toBe(welcome); // welcome precedes any other frame
    expect(welcome).toMatchObject({
      t: 'welcome',
      v: 1,
      resumed: false,
      a: 0,
      hb: 1234,
      max: 4096,
      transports: ['websocket', 'sse', 'fetch-stream', 'long-poll'],
    });
    expect(b64urlBits(welcome.sid)).toBeGreaterThanOrEqual(128);
    expect(b64urlBits(welcome.key)).toBeGreaterThanOrEqual(128);
    expect(welcome.sid).not.toBe(welcome.key);
    expect(connections).toBe(1);
    expect(rt.sessions.get(welcome.sid)?.id).toBe(welcome.sid);
  });

  it('picks the highest common version and refuses when there is none (4406)', async () => {
    const { url } = await start();
    const a = client(url);
    await a.opened();
    a.send({ t: 'hello', v: [7, 1, 0], a: 0 });
    expect((await a.next('welcome')).v).toBe(1);

    const b = client(url);
    await b.opened();
    b.send({ t: 'hello', v: [2, 3], a: 0 });
    expect((await b.whenClosed()).code).toBe(4406);
    expect(b.frames).toEqual([expect.objectContaining({ t: 'close', code: 4406 })]);
  });

  it('closes 4408 (retryable: a slow network may have delayed it) when no hello arrives in time', async () => {
    const { url } = await start({ handshakeTimeout: 100 });
    const c = client(url);
    await c.opened();
    const closed = await c.whenClosed();
    expect(closed.code).toBe(4408);
    expect(closed.reason).toMatch(/hello/);
  });

  it('closes 4400 when the first frame is not hello', async () => {
    const { url } = await start();
    const c = client(url);
    await c.opened();
    c.send({ t: 'msg', s: 1, d: [1] });
    expect(await c.whenClosed()).toMatchObject({
      code: 4400,
      reason: expect.stringMatching(/expected a hello/) as unknown,
    });
  });

  it('frames sent before welcome (while authenticate runs) are handled after it, in order; more than 100 close 4400', async () => {
    let release!: () => void;
    const authenticated = new Promise<boolean>((resolve) => (release = () => resolve(true)));
    const { rt, url } = await start({ authenticate: () => authenticated });
    const got: unknown[] = [];
    rt.on('connection', (s) => s.on('message', (d) => got.push(d)));
    const early = client(url);
    await early.opened();
    early.send({ t: 'hello', v: [1], a: 0 });
    early.send({ t: 'msg', s: 1, d: ['a'] });
    early.send({ t: 'msg', s: 2, d: ['b'] });
    const flood = client(url);
    await flood.opened();
    flood.send({ t: 'hello', v: [1], a: 0 });
    for (let i = 1; i <= 101; i++) flood.send({ t: 'ping' });
    expect(await flood.whenClosed()).toEqual({ code: 4400, reason: 'more than 100 frames received before welcome' });
    expect(got).toEqual([]); // nothing handled before welcome
    release();
    expect((await early.next()).t).toBe('welcome');
    expect((await early.next('ack')).a).toBe(2);
    expect(got).toEqual(['a', 'b']);
  });

  it('passes the token to authenticate and closes 4401 when refused', async () => {
    const seen: Array<string | undefined> = [];
    const { rt, url } = await start({
      authenticate: (token) => {
        seen.push(token);
        return Promise.resolve(token === 'good' ? { user: 'ann' } : false);
      },
    });
    const bad = client(url);
    await bad.opened();
    bad.send({ t: 'hello', v: [1], a: 0, token: 'bad' });
    const closed = await bad.whenClosed();
    expect(closed).toEqual({ code: 4401, reason: 'unauthorized' });
    expect(bad.frames).toEqual([{ t: 'close', code: 4401, reason: 'unauthorized' }]);

    const sessionP = nextSession(rt);
    const good = client(url);
    await good.hello({ token: 'good' });
    expect((await sessionP).auth).toEqual({ user: 'ann' });
    expect(seen).toEqual(['bad', 'good']);
  });

  it('closes 4401 when authenticate throws', async () => {
    const { url } = await start({
      authenticate: () => {
        throw new Error('boom');
      },
    });
    const c = client(url);
    await c.opened();
    c.send({ t: 'hello', v: [1], a: 0, token: 'x' });
    expect((await c.whenClosed()).code).toBe(4401);
  });

  it('a throwing clientIp option on a WebSocket upgrade is reported, not a crash: the socket address is used', async () => {
    const { rt, url } = await start({
      clientIp: () => {
        throw new Error('clientIp bug');
      },
    });
    const errors: unknown[] = [];
    rt.on('error', (e) => errors.push(e));
    const sessionP = nextSession(rt);
    const c = client(url);
    await c.hello();
    expect((await sessionP).remoteAddress).toBe('127.0.0.1');
    expect(errors).toEqual([expect.objectContaining({ message: 'clientIp bug' })]);
  });

  it('authenticate returning a thenable whose then() throws: reported, closed 4401, no crash', async () => {
    const { rt, url } = await start({
      authenticate: () => ({
        then() {
          throw new Error('then bug');
        },
      }),
    });
    const errors: unknown[] = [];
    rt.on('error', (e) => errors.push(e));
    const c = client(url);
    await c.opened();
    c.send({ t: 'hello', v: [1], a: 0, token: 'x' });
    expect((await c.whenClosed()).code).toBe(4401);
    expect(errors).toEqual([expect.objectContaining({ message: 'then bug' })]);
  });

  it('accepts then closes 4403 a forbidden Origin, without processing frames', async () => {
    const { rt, url } = await start({ allowedOrigins: ['https://good.example'] });
    let connections = 0;
    rt.on('connection', () => connections++);
    const bad = client(url, { Origin: 'https://evil.example' });
    await bad.opened(); // the upgrade itself succeeds
    bad.send({ t: 'hello', v: [1], a: 0 });
    expect(await bad.whenClosed()).toEqual({ code: 4403, reason: 'origin not allowed' });
    expect(bad.frames).toEqual([{ t: 'close', code: 4403, reason: 'origin not allowed' }]);

    const good = client(url, { Origin: 'https://GOOD.example' });
    expect((await good.hello()).t).toBe('welcome');
    expect(connections).toBe(1);
  });

  it('admits a WebSocket without an Origin header even with an allow-list, as over HTTP (a Node or native client); the predicate is not asked', async () => {
    const asked: string[] = [];
    const allowedOrigins = (origin: string): boolean => {
      asked.push(origin);
      return origin === 'https://good.example';
    };
    const { url } = await start({ allowedOrigins });
    const c = client(url); // RawClient (ws) sends no Origin unless told
    expect((await c.hello()).t).toBe('welcome');
    expect(asked).toEqual([]);
  });

  it('limits sessions per address (4429)', async () => {
    const { url } = await start({ maxSessionsPerIp: 1 });
    const a = client(url);
    await a.hello();
    const b = client(url);
    await b.opened();
    b.send({ t: 'hello', v: [1], a: 0 });
    expect((await b.whenClosed()).code).toBe(4429);
  });

  it('limits WebSocket connections waiting for hello per address (4429 with a close frame)', async () => {
    const { url } = await start({ maxSessionsPerIp: 2 });
    const a = client(url);
    const b = client(url);
    await Promise.all([a.opened(), b.opened()]);
    const c = client(url);
    expect(await c.whenClosed()).toEqual({
      code: 4429,
      reason: 'too many connections waiting for hello from this address',
    });
    expect(c.frames).toEqual([expect.objectContaining({ t: 'close', code: 4429 })]);
    await a.hello(); // no longer waiting: a slot is free
    const d = client(url);
    await d.hello();
    expect(b.closed).toBeNull();
  });

  it('leaves upgrades on other paths alone', async () => {
    const { url } = await start();
    const handled: string[] = [];
    httpServer!.on('upgrade', (req, socket) => {
      if (req.url === '/other') {
        handled.push(req.url);
        socket.end('HTTP/1.1 418 I am a teapot\r\n\r\n');
      }
    });
    const c = client(url.replace('/realtime', '/other'));
    await waitFor(() => c.closed, { timeout: 3000, what: 'refused upgrade' });
    expect(handled).toEqual(['/other']);
  });

  it('answers an upgrade on another path with 400 at once when no other listener could take it (not a client timeout later)', async () => {
    const { url } = await start();
    const t0 = Date.now();
    expect(await upgradeAnswer(url.replace('/realtime', '/nowhere'))).toBe(400);
    expect(Date.now() - t0).toBeLessThan(1000); // the default foreignUpgradeTimeout would be a second
  });

  it('gives the other upgrade listeners foreignUpgradeTimeout ms: one that takes the upgrade later keeps it, one that ignores it leaves a 400', async () => {
    const { url } = await start({ foreignUpgradeTimeout: 300 });
    const other = new WebSocketServer({ noServer: true });
    httpServer!.on('upgrade', (req, socket, head) => {
      // Takes /ws after an async check, as an app verifying a token would; ignores every other path.
      if (req.url === '/ws')
        setTimeout(() => other.handleUpgrade(req, socket, head, (ws) => other.emit('connection', ws, req)), 100);
    });
    other.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
    const taken = new WebSocket(url.replace('/realtime', '/ws'));
    await new Promise((resolve) => taken.once('open', resolve));
    // Past the 300 ms in which a socket nobody wrote to would be answered 400: the taken one still echoes.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const echo = new Promise((resolve) => taken.once('message', (m) => resolve(wsText(m))));
    taken.send('still mine');
    expect(await echo).toBe('still mine');
    taken.terminate();
    const t0 = Date.now();
    expect(await upgradeAnswer(url.replace('/realtime', '/nowhere'))).toBe(400);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    other.close();
  });

  it('foreignUpgradeTimeout: 0 leaves upgrades on other paths to the app, however late it answers', async () => {
    const { url } = await start({ foreignUpgradeTimeout: 0 });
    httpServer!.on('upgrade', (req, socket) => {
      if (req.url === '/late')
        setTimeout(() => socket.end('HTTP/1.1 418 I am a teapot\r\nContent-Length: 0\r\n\r\n'), 1200);
    });
    expect(await upgradeAnswer(url.replace('/realtime', '/late'))).toBe(418);
  });
});

describe('RealtimeServer data', () => {
  it('delivers client messages and echoes via session.send with piggybacked acks', async () => {
    const { rt, url } = await start();
    rt.on('connection', (s) => s.on('message', (data) => s.send({ echo: data })));
    const c = client(url);
    await c.hello();
    c.send({ t: 'msg', s: 1, d: ['hi', { n: 2 }] });
    const m1 = await c.next('msg');
    expect(m1.s).toBe(1);
    expect(m1.a).toBe(2);
    await waitFor(() => c.messages().length === 2, { timeout: 3000, what: 'c.messages().length === 2' });
    expect(c.messages()).toEqual([
      [1, { echo: 'hi' }],
      [2, { echo: { n: 2 } }],
    ]);
  });

  it('sends a standalone ack when nothing else goes out', async () => {
    const { url } = await start({ ackDelay: 20 });
    const c = client(url);
    await c.hello();
    c.send({ t: 'msg', s: 1, d: ['x'] });
    expect(await c.next('ack')).toEqual({ t: 'ack', a: 1 });
  });

  it('a reply that carried the ack leaves nothing for the ack timer: no standalone ack follows', async () => {
    // The ack timer is not cleared by the frames that carry the ack; when it fires it must find nothing owed.
    const { rt, url } = await start({ ackDelay: 20 });
    rt.on('connection', (s) => s.on('message', (data) => s.send({ echo: data })));
    const c = client(url);
    await c.hello();
    for (let s = 1; s <= 3; s++) {
      c.send({ t: 'msg', s, d: [s], a: s - 1 });
      expect(await c.next('msg')).toMatchObject({ s, a: s });
    }
    await new Promise((resolve) => setTimeout(resolve, 80)); // past the delay: a timer armed meanwhile has fired
    expect(c.frames.filter((f) => f.t === 'ack')).toEqual([]);
  });

  it('acks at once when 128 messages are unacknowledged', async () => {
    const { url } = await start({ ackDelay: 60_000 });
    const c = client(url);
    await c.hello();
    c.send({ t: 'msg', s: 1, d: Array.from({ length: 200 }, (_, i) => i) });
    expect(await c.next('ack')).toEqual({ t: 'ack', a: 200 });
  });

  it('batches many sends in one tick into few frames with contiguous seqs', async () => {
    const { rt, url } = await start();
    rt.on('connection', (s) => {
      for (let i = 0; i < 1000; i++) s.send({ i });
    });
    const c = client(url);
    await c.hello();
    await waitFor(() => c.messages().length === 1000, { timeout: 3000, what: 'c.messages().length === 1000' });
    const frames = c.frames.filter((f) => f.t === 'msg');
    expect(frames.length).toBeLessThan(10);
    expect(c.messages()).toEqual(Array.from({ length: 1000 }, (_, i) => [i + 1, { i }]));
  });

  it('holds messages while the connection is backlogged and sends them as one frame (any transport)', async () => {
    // A session only needs the small Connection interface: drive one by hand.
    const rt = new RealtimeServer({ backpressureThreshold: 1000 });
    try {
      const sent: string[] = [];
      const conn = { bufferedAmount: 0, send: (t: string) => void sent.push(t), close: () => {} };
      const sessionP = nextSession(rt);
      const link = rt.accept(conn, {
        headers: {},
        socket: { remoteAddress: '10.0.0.1' },
      } as unknown as IncomingMessage);
      link.receive(JSON.stringify({ t: 'hello', v: [1], a: 0 }));
      const s = await sessionP;
      expect(parseFrame(sent[0]!).t).toBe('welcome');
      s.send('first');
      await waitFor(() => sent.length === 2, { timeout: 3000, what: 'sent.length === 2' });
      conn.bufferedAmount = 5000; // the socket is not draining
      for (let tick = 0; tick < 20; tick++) {
        s.send(tick);
        await new Promise((r) => setTimeout(r, 1));
      }
      expect(sent.length).toBe(2);
      conn.bufferedAmount = 0;
      await waitFor(() => sent.length === 3, { timeout: 3000, what: 'sent.length === 3' });
      expect(JSON.parse(sent[2]!)).toEqual({ t: 'msg', s: 2, d: Array.from({ length: 20 }, (_, i) => i), a: 0 });
    } finally {
      await rt.close();
    }
  });

  it('splits batches so no frame exceeds max', async () => {
    const max = 2048;
    const { rt, url } = await start({ maxMessageBytes: max });
    const payload = 'x'.repeat(300);
    rt.on('connection', (s) => {
      for (let i = 0; i < 50; i++) s.send(payload);
    });
    const c = client(url);
    await c.hello();
    await waitFor(() => c.messages().length === 50, { timeout: 3000, what: 'c.messages().length === 50' });
    const sizes = c.raw.filter((r) => r.startsWith('{"t":"msg"')).map((r) => Buffer.byteLength(r));
    expect(sizes.length).toBeGreaterThan(1);
    for (const n of sizes) expect(n).toBeLessThanOrEqual(max);
    expect(c.messages().map(([s]) => s)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('hello.max: frames to that client are split to fit the smaller of both limits', async () => {
    const { rt, url } = await start({ maxMessageBytes: 8192 });
    const payload = 'x'.repeat(100);
    rt.on('connection', (s) => {
      for (let i = 0; i < 50; i++) s.send(payload);
    });
    const c = client(url);
    await c.hello({ max: 512 });
    await waitFor(() => c.messages().length === 50, { timeout: 3000, what: 'c.messages().length === 50' });
    const sizes = c.raw.map((r) => Buffer.byteLength(r));
    expect(sizes.filter((n, i) => c.frames[i]!.t === 'msg').length).toBeGreaterThan(10);
    for (const n of sizes) expect(n).toBeLessThanOrEqual(512);
    expect(c.messages().map(([s]) => s)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it("session.send throws a RangeError naming both limits for a message that cannot fit the client's max, and queues nothing", async () => {
    const { c, s } = await connected({ maxMessageBytes: 8192 }, { max: 512 });
    expect(() => s.send('x'.repeat(1000))).toThrow(RangeError);
    expect(() => s.send('x'.repeat(1000))).toThrow(/1002 bytes.*maxMessageBytes 8192.*max 512/);
    expect(s.unacknowledged).toBe(0);
    s.send('fits');
    await waitFor(() => c.messages().length === 1, { timeout: 3000, what: 'c.messages().length === 1' });
    expect(c.messages()).toEqual([[1, 'fits']]);
    // Still checked while the client is away: its max is kept for the resume.
    c.terminate();
    await waitFor(() => !s.connected, { timeout: 3000, what: '!s.connected' });
    expect(() => s.send('x'.repeat(1000))).toThrow(RangeError);
  });

  it("broadcast skips a session whose client's max is too small, reports it, and still reaches the others", async () => {
    const { rt, url } = await start();
    const errors: unknown[] = [];
    rt.on('error', (e) => errors.push(e));
    const small = client(url);
    const big = client(url);
    await small.hello({ max: 512 });
    await big.hello();
    expect(await rt.broadcast('x'.repeat(1000))).toBe(1);
    await waitFor(() => big.messages().length === 1, { timeout: 3000, what: 'big.messages().length === 1' });
    expect(small.messages()).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/skipped 1 session/);
    expect(await rt.broadcast('small')).toBe(2);
    await waitFor(() => small.messages().length === 1, { timeout: 3000, what: 'small.messages().length === 1' });
    expect(small.messages()).toEqual([[1, 'small']]);
  });

  it('a hello max below 256 is a protocol error (4400)', async () => {
    const { url } = await start();
    const c = client(url);
    await c.opened();
    c.send({ t: 'hello', v: [1], a: 0, max: 100 });
    expect(await c.whenClosed()).toMatchObject({ code: 4400 });
  });

  it('broadcast reaches every session', async () => {
    const { rt, url } = await start();
    const a = client(url);
    const b = client(url);
    await a.hello();
    await b.hello();
    expect(await rt.broadcast({ hello: 'all' })).toBe(2);
    await waitFor(() => a.messages().length === 1 && b.messages().length === 1, {
      timeout: 3000,
      what: 'a.messages().length === 1 && b.messages().length === 1',
    });
    expect(a.messages()).toEqual([[1, { hello: 'all' }]]);
  });

  it('session.send throws a TypeError on unserialisable data and a RangeError on a message over maxMessageBytes; the session is unaffected', async () => {
    const { rt, c, s } = await connected({ maxMessageBytes: 1024 });
    const circular: { self?: unknown } = {};
    circular.self = circular;
    expect(() => s.send(circular)).toThrow(TypeError);
    expect(() => s.send(10n)).toThrow(TypeError);
    expect(() => s.send(undefined)).toThrow(/not JSON-serialisable/);
    expect(() => s.send('x'.repeat(2000))).toThrow(
      new RangeError('realtime: message of 2002 bytes cannot fit in a frame (maxMessageBytes 1024)'),
    );
    expect(() => rt.broadcast('x'.repeat(2000))).toThrow(RangeError);
    s.send('fine');
    await waitFor(() => c.messages().length === 1, { timeout: 3000, what: 'c.messages().length === 1' });
    expect(c.messages()).toEqual([[1, 'fine']]); // no sequence number was used up by the refused ones
    expect(s.closed).toBe(false);
  });

  it('survives a throwing message listener and reports it as an error event', async () => {
    const { rt, url } = await start();
    const errors: unknown[] = [];
    rt.on('error', (e) => errors.push(e));
    rt.on('connection', (s) =>
      s.on('message', (d) => {
        if (d === 'boom') throw new Error('app bug');
        s.send(d);
      }),
    );
    const c = client(url);
    await c.hello();
    c.send({ t: 'msg', s: 1, d: ['boom', 'after'] });
    await waitFor(() => c.messages().length === 1, { timeout: 3000, what: 'c.messages().length === 1' });
    expect(c.messages()).toEqual([[1, 'after']]);
    expect(errors).toHaveLength(1);
  });
});

describe('RealtimeServer protocol errors', () => {
  it('closes 4400 on an unknown frame type, with a close frame saying why', async () => {
    const { url } = await start();
    const c = client(url);
    await c.hello();
    c.send({ t: 'bogus' });
    const closed = await c.whenClosed();
    expect(closed.code).toBe(4400);
    expect(closed.reason).toMatch(/unknown frame type "bogus"/);
    expect(c.frames.at(-1)).toEqual({ t: 'close', code: 4400, reason: closed.reason });
  });

  it('closes 4400 on malformed JSON', async () => {
    const { url } = await start();
    const c = client(url);
    await c.hello();
    c.send('{not json');
    expect(await c.whenClosed()).toMatchObject({ code: 4400, reason: 'frame is not valid JSON' });
  });

  it('closes 4400 on a sequence gap and ends the session', async () => {
    const { rt, c, s } = await connected();
    const ended = new Promise<number>((resolve) => s.on('close', (code) => resolve(code)));
    c.send({ t: 'msg', s: 5, d: ['future'] });
    expect((await c.whenClosed()).code).toBe(4400);
    expect(await ended).toBe(4400);
    expect(rt.sessions.size).toBe(0);
  });

  it('closes 4413 on a frame over maxMessageBytes', async () => {
    const { url } = await start({ maxMessageBytes: 1024 });
    const c = client(url);
    await c.hello();
    c.send({ t: 'msg', s: 1, d: ['x'.repeat(2000)] });
    const closed = await c.whenClosed();
    expect(closed.code).toBe(4413);
    expect(c.frames.at(-1)).toMatchObject({ t: 'close', code: 4413 });
  });
});

describe('RealtimeServer sessions and resume', () => {
  it('drops duplicate client messages after a resume', async () => {
    const { rt, url } = await start();
    const got: unknown[] = [];
    let connections = 0;
    rt.on('connection', (s) => {
      connections++;
      s.on('message', (d) => got.push(d));
    });
    const c1 = client(url);
    const w1 = await c1.hello();
    c1.send({ t: 'msg', s: 1, d: ['a', 'b', 'c'] });
    await waitFor(() => got.length === 3, { timeout: 3000, what: 'got.length === 3' });
    c1.terminate();
    const s = rt.sessions.get(w1.sid)!;
    await waitFor(() => !s.connected, { timeout: 3000, what: 'server to notice the drop' });

    const c2 = client(url);
    const w2 = await c2.hello({ sid: w1.sid, key: w1.key });
    expect(w2).toMatchObject({ resumed: true, sid: w1.sid, a: 3 });
    c2.send({ t: 'msg', s: 1, d: ['a', 'b', 'c', 'd'] }); // client did not see the ack: retransmits all
    c2.send({ t: 'msg', s: 5, d: ['e'] });
    await waitFor(() => got.length === 5, { timeout: 3000, what: 'got.length === 5' });
    expect(got).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(connections).toBe(1);
  });

  it('a resume announcing a max too small for a message the client has yet to receive: that session ends (4413, saying why) and the client gets a new one', async () => {
    const { rt, url } = await start();
    const closes: Array<[number, string]> = [];
    const sessionP = nextSession(rt);
    const c1 = client(url);
    const w1 = await c1.hello();
    const s1 = await sessionP;
    s1.on('close', (code, reason) => closes.push([code, reason]));
    s1.send('small');
    await waitFor(() => c1.messages().length === 1, { timeout: 3000, what: 'c1.messages().length === 1' });
    c1.terminate();
    await waitFor(() => !s1.connected, { timeout: 3000, what: 'server to notice the drop' });
    s1.send('x'.repeat(1000)); // fits the max the client announced before (none: the server's)
    const c2 = client(url);
    const w2 = await c2.hello({ sid: w1.sid, key: w1.key, a: 1, max: 512 });
    expect(w2).toMatchObject({ resumed: false });
    expect(w2.sid).not.toBe(w1.sid);
    expect(s1.closed).toBe(true);
    expect(closes).toHaveLength(1);
    expect(closes[0]![0]).toBe(4413);
    expect(closes[0]![1]).toMatch(/1002 bytes.*max 512/);
  });

  it('a resume announcing a max that fits every message not yet received resumes as usual', async () => {
    const { url, c: c1, w: w1, s: s1 } = await connected({}, { max: 2048 });
    s1.send('x'.repeat(1000));
    await waitFor(() => c1.messages().length === 1, { timeout: 3000, what: 'c1.messages().length === 1' });
    c1.terminate();
    await waitFor(() => !s1.connected, { timeout: 3000, what: 'server to notice the drop' });
    s1.send('y'.repeat(100));
    const c2 = client(url);
    // Message 1 (too large for 512) was received: only message 2 is owed.
    const w2 = await c2.hello({ sid: w1.sid, key: w1.key, a: 1, max: 512 });
    expect(w2).toMatchObject({ resumed: true, sid: w1.sid });
    await waitFor(() => c2.messages().length === 1, { timeout: 3000, what: 'c2.messages().length === 1' });
    expect(c2.messages()).toEqual([[2, 'y'.repeat(100)]]);
  });

  it('the resume key is not visible when a session is logged or serialised (util.inspect, JSON.stringify)', async () => {
    const { w, s: session } = await connected();
    const seen = new WeakSet<object>();
    const json = JSON.stringify(session, (_k, v: unknown) => {
      if (typeof v === 'object' && v !== null) {
        if (seen.has(v)) return undefined; // a session and its link refer to each other
        seen.add(v);
      }
      return v;
    });
    const hex = Buffer.from(w.key).toString('hex').match(/../g)!.join(' ');
    for (const text of [inspect(session, { depth: 4, showHidden: true }), json]) {
      expect(text).not.toContain(w.key);
      expect(text).not.toContain(hex);
    }
    expect(session.store.matchesKey(w.key)).toBe(true);
    expect((session.store as MemoryState).snapshot().key).toBe(w.key);
  });

  it('requires the key to resume: a wrong key gets a new session', async () => {
    const { rt, url } = await start();
    const c1 = client(url);
    const w1 = await c1.hello();
    c1.terminate();
    await waitFor(() => !rt.sessions.get(w1.sid)!.connected, {
      timeout: 3000,
      what: '!rt.sessions.get(w1.sid)!.connected',
    });
    const c2 = client(url);
    const w2 = await c2.hello({ sid: w1.sid, key: w1.key.replace(/^./, (ch: string) => (ch === 'A' ? 'B' : 'A')) });
    expect(w2.resumed).toBe(false);
    expect(w2.sid).not.toBe(w1.sid);
    expect(w2.a).toBe(0);

    const c3 = client(url);
    const w3 = await c3.hello({ sid: w1.sid }); // no key at all
    expect(w3.resumed).toBe(false);

    const c4 = client(url);
    const w4 = await c4.hello({ sid: 'unknown-session', key: w1.key });
    expect(w4.resumed).toBe(false);
  });

  it("session.state follows its life, and each change is one 'state' event {from, to}", async () => {
    const { url, c: c1, w: w1, s } = await connected();
    expect(s.state).toBe('attached');
    const changes: Array<{ from: string; to: string }> = [];
    s.on('state', (change) => changes.push(change));
    s.disconnect();
    expect(s.state).toBe('detached');
    await c1.whenClosed();
    const c2 = client(url);
    await c2.hello({ sid: w1.sid, key: w1.key, a: 0 });
    expect(s.state).toBe('attached');
    s.close(1000, 'done');
    expect(s.state).toBe('ended');
    expect(changes).toEqual([
      { from: 'attached', to: 'detached' },
      { from: 'detached', to: 'attached' },
      { from: 'attached', to: 'ended' },
    ]);
  });

  it('replays unacked messages exactly once after disconnect() and resume', async () => {
    const { url, c: c1, w: w1, s } = await connected();
    let resumes = 0;
    s.on('resume', () => resumes++);
    for (let i = 1; i <= 5; i++) s.send(`m${i}`);
    await waitFor(() => c1.messages().length === 5, { timeout: 3000, what: 'c1.messages().length === 5' });
    c1.send({ t: 'ack', a: 2 });
    await waitFor(() => s.unacknowledged === 3, { timeout: 3000, what: 's.unacknowledged === 3' });

    s.disconnect(); // simulated network failure; the session stays
    expect(s.connected).toBe(false);
    expect(s.closed).toBe(false);
    await c1.whenClosed();
    s.send('m6'); // queued while disconnected
    s.send('m7');

    // The client had received m1..m3 only (m4, m5 were "lost in flight").
    const c2 = client(url);
    const w2 = await c2.hello({ sid: w1.sid, key: w1.key, a: 3 });
    expect(w2.resumed).toBe(true);
    await waitFor(() => c2.messages().length === 4, { timeout: 3000, what: 'c2.messages().length === 4' });
    expect(c2.messages()).toEqual([
      [4, 'm4'],
      [5, 'm5'],
      [6, 'm6'],
      [7, 'm7'],
    ]);
    expect(c2.frames[0]!.t).toBe('welcome');
    s.send('m8');
    await waitFor(() => c2.messages().length === 5, { timeout: 3000, what: 'c2.messages().length === 5' });
    expect(c2.messages().map(([seq]) => seq)).toEqual([4, 5, 6, 7, 8]);
    expect(resumes).toBe(1);
  });

  it('a resume whose a counts messages queued but never written is refused (new session)', async () => {
    const { url, c: c1, w: w1, s: session } = await connected();
    session.send('one');
    await c1.next('msg');
    session.disconnect();
    session.send('two'); // queued while disconnected: seq 2, never written
    const c2 = client(url);
    expect((await c2.hello({ sid: w1.sid, key: w1.key, a: 2 })).resumed).toBe(false);
    const c3 = client(url);
    expect((await c3.hello({ sid: w1.sid, key: w1.key, a: 1 })).resumed).toBe(true);
    expect((await c3.next('msg')).d).toEqual(['two']);
  });

  it('a send that overruns the replay buffer while disconnected ends the session; send() then returns false', async () => {
    const { s: session } = await connected({ replay: { maxMessages: 1 } });
    const ended = new Promise<[number, string]>((resolve) => session.on('close', (...a) => resolve(a)));
    session.disconnect();
    expect(session.send('a')).toBe(true);
    session.send('b'); // overruns the buffer while disconnected
    expect(await ended).toEqual([1006, 'replay buffer overrun']);
    expect(session.closed).toBe(true);
    expect(session.send('c')).toBe(false);
  });

  it('replaces a still-open connection when the session is resumed elsewhere', async () => {
    const { rt, url } = await start();
    const c1 = client(url);
    const w1 = await c1.hello();
    const c2 = client(url);
    const w2 = await c2.hello({ sid: w1.sid, key: w1.key });
    expect(w2.resumed).toBe(true);
    expect(await c1.whenClosed()).toEqual({ code: 1000, reason: 'replaced' });
    rt.sessions.get(w1.sid)!.send('to-new');
    await waitFor(() => c2.messages().length === 1, { timeout: 3000, what: 'c2.messages().length === 1' });
    expect(c1.messages()).toEqual([]);
  });

  it('a delayed resume from a connection opened before the one carrying the session is refused: the live one keeps it', async () => {
    const { rt, url } = await start();
    const first = client(url);
    const w1 = await first.hello();
    // The client's connection drops; it opens a second one, gives up on it before the welcome
    // (its hello is delayed), and resumes on a third. Then the second one's hello arrives.
    first.ws.terminate();
    const stale = client(url);
    await stale.opened();
    const live = client(url);
    expect((await live.hello({ sid: w1.sid, key: w1.key, a: 0 })).resumed).toBe(true);
    stale.send({ t: 'hello', v: [1], sid: w1.sid, key: w1.key, a: 0 });
    expect(await stale.whenClosed()).toEqual({ code: 1000, reason: 'replaced' });
    rt.sessions.get(w1.sid)!.send('to-live');
    await waitFor(() => live.messages().length === 1, { what: 'the live connection still carries the session' });
    expect(live.closed).toBeNull();
  });

  it('cannot resume a session whose replay buffer overran', async () => {
    const { url, w: w1, s } = await connected({ replay: { maxMessages: 5 } });
    const ended = new Promise<string>((resolve) => s.on('close', (_code, reason) => resolve(reason)));
    s.disconnect();
    for (let i = 0; i < 10; i++) s.send(i);
    expect(await ended).toMatch(/overrun/);
    const c2 = client(url);
    expect((await c2.hello({ sid: w1.sid, key: w1.key })).resumed).toBe(false);
  });

  it('replay.maxBytes bounds what a disconnected session holds: past it the session ends and cannot be resumed', async () => {
    const { rt, url, w: w1, s } = await connected({ replay: { maxBytes: 100 } });
    const ended = new Promise<string>((resolve) => s.on('close', (_code, reason) => resolve(reason)));
    s.disconnect();
    expect(s.send('x'.repeat(60))).toBe(true);
    s.send('y'.repeat(60)); // 124 bytes held
    expect(await ended).toBe('replay buffer overrun');
    expect(rt.sessions.size).toBe(0);
    const c2 = client(url);
    expect((await c2.hello({ sid: w1.sid, key: w1.key })).resumed).toBe(false);
  });

  it('the replay bound counts unacknowledged messages only; a connected client that falls behind it is closed with 4500, not left to grow', async () => {
    const { c, s } = await connected({ replay: { maxMessages: 5 } });
    // 15 messages in steps of 5, each step acknowledged: never more than 5 held.
    for (let step = 1; step <= 3; step++) {
      for (let i = 0; i < 5; i++) expect(s.send(i)).toBe(true);
      await waitFor(() => c.messages().length === 5 * step, {
        timeout: 3000,
        what: 'c.messages().length === 5 * step',
      });
      c.send({ t: 'ack', a: 5 * step });
      await waitFor(() => s.unacknowledged === 0, { timeout: 3000, what: 's.unacknowledged === 0' });
    }
    // A client that acknowledges nothing while 6 messages pile up before they can even be written.
    for (let i = 0; i < 6; i++) s.send(i);
    expect(await c.whenClosed()).toEqual({ code: 4500, reason: 'replay buffer overrun: client too slow' });
    expect(s.closed).toBe(true);
  });

  it('expires a disconnected session after sessionTtl', async () => {
    const { rt, c, s } = await connected({ sessionTtl: 50 });
    const ended = new Promise<string>((resolve) => s.on('close', (_c, reason) => resolve(reason)));
    c.terminate();
    expect(await ended).toBe('session expired');
    expect(rt.sessions.size).toBe(0);
  });

  it('session.close() sends a close frame and ends the session', async () => {
    const { rt, c, s } = await connected();
    s.close(4403, 'kicked');
    expect(await c.whenClosed()).toEqual({ code: 4403, reason: 'kicked' });
    expect(c.frames.at(-1)).toEqual({ t: 'close', code: 4403, reason: 'kicked' });
    expect(s.closed).toBe(true);
    expect(s.send('late')).toBe(false);
    expect(rt.sessions.size).toBe(0);
  });

  it('a client closing with 1000 (close frame or WebSocket code) ends the session', async () => {
    const { rt, url } = await start();
    const ends: Array<[number, string]> = [];
    rt.on('connection', (s) => s.on('close', (code, reason) => ends.push([code, reason])));
    const a = client(url);
    await a.hello();
    a.send({ t: 'close', code: 1000, reason: 'bye' });
    await waitFor(() => ends.length === 1, { timeout: 3000, what: 'ends.length === 1' });
    const b = client(url);
    await b.hello();
    b.ws.close(1000, 'done');
    await waitFor(() => ends.length === 2, { timeout: 3000, what: 'ends.length === 2' });
    expect(ends).toEqual([
      [1000, 'bye'],
      [1000, 'done'],
    ]);
    expect(rt.sessions.size).toBe(0);
  });

  it('a client close frame with a code other than 1000 is answered with that code (1001 if unsendable), never 1000', async () => {
    const { url } = await start();
    const c1 = client(url);
    await c1.hello();
    c1.send({ t: 'close', code: 4000, reason: 'going' });
    expect((await c1.whenClosed()).code).toBe(4000);
    const c2 = client(url);
    await c2.hello();
    c2.send({ t: 'close', code: 1006, reason: 'reserved' });
    expect((await c2.whenClosed()).code).toBe(1001);
  });

  it('a client closing with any other code can still resume', async () => {
    const { rt, url } = await start();
    const c1 = client(url);
    const w1 = await c1.hello();
    c1.ws.close(4400, 'protocol error'); // the client's verdict on a bad frame: it reconnects and resumes
    await waitFor(() => !rt.sessions.get(w1.sid)!.connected, {
      timeout: 3000,
      what: '!rt.sessions.get(w1.sid)!.connected',
    });
    const c2 = client(url);
    expect((await c2.hello({ sid: w1.sid, key: w1.key })).resumed).toBe(true);
  });
});

describe('RealtimeServer heartbeat and shutdown', () => {
  it('pings when idle and drops a silent connection with 4408, keeping the session', async () => {
    const { rt, url } = await start({ heartbeatInterval: 200 });
    const c = client(url);
    const w = await c.hello();
    c.send({ t: 'msg', s: 1, d: ['x'] });
    const ping = await c.next('ping');
    expect(ping).toEqual({ t: 'ping', a: 1 });
    // Never answer: the server gives up after 2 x hb of silence.
    expect((await c.whenClosed()).code).toBe(4408);
    const s = rt.sessions.get(w.sid)!;
    expect(s.closed).toBe(false);
    expect(s.connected).toBe(false);
    const c2 = client(url);
    expect((await c2.hello({ sid: w.sid, key: w.key, a: 0 })).resumed).toBe(true);
  });

  it('keeps a connection that answers pings', async () => {
    // 200 ms leaves room for a loaded 2-core CI machine; the server drops after 2 intervals of silence.
    const { rt, url } = await start({ heartbeatInterval: 200 });
    const c = client(url);
    c.ws.on('message', (data) => {
      if (parseFrame(wsText(data)).t === 'ping') c.send({ t: 'pong' });
    });
    const w = await c.hello();
    await waitFor(() => c.frames.filter((f) => f.t === 'ping').length >= 4, { timeout: 5000, what: 'four pings' });
    expect(c.closed).toBeNull();
    expect(rt.sessions.get(w.sid)!.connected).toBe(true);
  });

  it('server.close() closes every connection with 1001 and resolves', async () => {
    const { rt, url } = await start();
    const a = client(url);
    const b = client(url);
    await a.hello();
    await b.hello();
    const pending = client(url); // still in the handshake
    await pending.opened();
    const sessionsClosed: number[] = [];
    for (const s of rt.sessions.values()) s.on('close', (code) => sessionsClosed.push(code));
    await rt.close();
    for (const c of [a, b, pending]) {
      const closed = await c.whenClosed();
      expect(closed).toEqual({ code: 1001, reason: 'server shutting down' });
      expect(c.frames.at(-1)).toEqual({ t: 'close', code: 1001, reason: 'server shutting down' });
    }
    expect(sessionsClosed).toEqual([1001, 1001]);
    expect(rt.sessions.size).toBe(0);
  });
});
