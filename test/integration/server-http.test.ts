// @vitest-environment node
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { execFile } from 'node:child_process';
import { connect, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RealtimeServer, type RealtimeServerOptions, type Session } from '../../src/server';
import type { WelcomeFrame } from '../../src/protocol';
import { abortStreams, HELLO, PollClient, post, raw, StreamClient, TEXT } from './http-client';
import { testScope, type Running } from './harness';
import { parseFrame } from './raw-client';
import { waitFor } from '../wait';

// The HTTP transports (docs/protocol.md §14) driven by hand: fetch and node:http, no client library.

const scope = testScope();
let httpServer: Server | null = null;

/** The reference server beside an app that answers 'app page', closed after the test. */
async function start(options: Omit<RealtimeServerOptions, 'server'> = {}): Promise<Running> {
  const s = await scope.server(options, { app: (_req, res) => res.end('app page') });
  httpServer = s.http;
  return s;
}

/**
 * Resolves once the next request whose URL contains `part` has arrived and its body was read,
 * plus one turn of the event loop for the server to act on it: a poll is then held.
 */
function processed(part: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (req: IncomingMessage): void => {
      if (!req.url?.includes(part)) return;
      httpServer!.off('request', on);
      req.once('end', () => setImmediate(resolve));
    };
    httpServer!.on('request', on); // added after the RealtimeServer: sees every request, answers none
  });
}

/** A promise and whether it settled yet. */
function tracked<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  return { p, settled: () => done };
}

function nextSession(server: RealtimeServer): Promise<Session> {
  return new Promise((resolve) => server.once('connection', resolve));
}

afterEach(() => {
  abortStreams();
  httpServer = null;
});

// ---- stream links -----------------------------------------------------------------------------

describe('stream links (sse, fetch-stream)', () => {
  it('opens with the headers, the :ok first byte and the link event; hello → welcome on the stream; echo with id:', async () => {
    const { rt, base } = await start();
    rt.on('connection', (s) => s.on('message', (d) => s.send({ echo: d })));
    const c = await StreamClient.open(base);
    expect(c.res.status).toBe(200);
    expect(c.res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(c.res.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(c.res.headers.get('x-accel-buffering')).toBe('no');
    const id = await c.linkId();
    expect(c.raw.startsWith(':ok\n\n')).toBe(true);
    expect(c.raw.slice(5)).toBe(`data: {"t":"link","id":"${id}"}\n\n`);
    expect(Buffer.from(id, 'base64url').length * 8).toBeGreaterThanOrEqual(128);

    const r = await post(base, id, HELLO);
    expect(r.status).toBe(204);
    const welcome = await c.next();
    expect(welcome).toMatchObject({ t: 'welcome', v: 1, resumed: false, a: 0 });

    // Two messages in one POST body, one frame each.
    expect((await post(base, id, { t: 'msg', s: 1, d: ['a'] }, { t: 'msg', s: 2, d: ['b'] })).status).toBe(204);
    await waitFor(() => c.msgEvents().reduce((n, e) => n + e.frame.d.length, 0) === 2, { what: 'two echoes' });
    const msgs = c.msgEvents();
    expect(msgs.flatMap((m) => m.frame.d)).toEqual([{ echo: 'a' }, { echo: 'b' }]);
    for (const m of msgs) expect(m.id).toBe(String(m.frame.s + m.frame.d.length - 1));
    // Non-msg frames carry no id.
    expect(c.events.find((e) => e.data?.startsWith('{"t":"welcome"'))!.id).toBeUndefined();
  });

  it('fetch-stream is the same stream', async () => {
    const { base } = await start();
    const c = await StreamClient.open(base, 'fetch-stream');
    expect(c.res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const id = await c.linkId();
    await post(base, id, HELLO);
    expect((await c.next()).t).toBe('welcome');
  });

  it('writes a comment heartbeat on an idle stream', async () => {
    const { base } = await start({ streamHeartbeat: 30 });
    const c = await StreamClient.open(base);
    await c.linkId();
    await waitFor(() => c.events.filter((e) => e.comment === '').length >= 2, { what: 'two heartbeat comments' });
    expect(c.raw).toContain('\n:\n\n');
  });

  it('pings on the stream and drops a link that sends nothing for 2×hb (4408, session kept)', async () => {
    const { rt, base } = await start({ heartbeatInterval: 60 });
    const c = await StreamClient.open(base);
    const id = await c.linkId();
    await post(base, id, HELLO);
    const w = await c.next('welcome');
    // Stay alive (any frame counts) until a ping shows up, however late timers fire under load...
    const alive = setInterval(() => void post(base, id, { t: 'ack', a: 0 }).catch(() => {}), 20);
    try {
      expect(await c.next('ping')).toEqual({ t: 'ping', a: 0 });
    } finally {
      clearInterval(alive);
    }
    // ...then go silent.
    expect(await c.next('close')).toEqual({ t: 'close', code: 4408, reason: 'heartbeat timeout' });
    await waitFor(() => c.ended, { what: 'stream end' });
    const s = rt.sessions.get(w.sid)!;
    expect(s.closed).toBe(false);
    expect(s.connected).toBe(false);
    expect((await post(base, id, { t: 'pong' })).status).toBe(404);
  });

  it('an aborted stream is a link drop: the session resumes on a new link', async () => {
    const { rt, base } = await start();
    const sessionP = nextSession(rt);
    const c1 = await StreamClient.open(base);
    const id1 = await c1.linkId();
    await post(base, id1, HELLO);
    const w1 = await c1.next('welcome');
    const s = await sessionP;
    s.send('m1');
    await c1.next('msg');
    c1.abort.abort();
    await waitFor(() => !s.connected, { what: 'server to notice the abort' });
    expect(s.closed).toBe(false);
    s.send('m2'); // waits in the replay buffer
    expect((await post(base, id1, { t: 'ack', a: 1 })).status).toBe(404);

    const c2 = await StreamClient.open(base);
    const id2 = await c2.linkId();
    expect(id2).not.toBe(id1);
    await post(base, id2, { t: 'hello', v: [1], a: 1, sid: w1.sid, key: w1.key });
    expect(await c2.next('welcome')).toMatchObject({ resumed: true, sid: w1.sid });
    expect(await c2.next('msg')).toMatchObject({ s: 2, d: ['m2'] });
  });
});

// ---- resume -----------------------------------------------------------------------------------

describe('resume over HTTP', () => {
  it("requires the session's key: another session's id with a wrong key, or none, gets a new session and sees none of its messages", async () => {
    const { rt, base } = await start();
    const sessionP = nextSession(rt);
    const victim = await new PollClient(base).open();
    const w = (await victim.poll(5000, HELLO)).frames[0] as WelcomeFrame;
    const s = await sessionP;
    s.disconnect();
    s.send('private');
    const wrongKey = w.key.replace(/^./, (ch: string) => (ch === 'A' ? 'B' : 'A'));
    for (const guess of [{ sid: w.sid, key: wrongKey }, { sid: w.sid }]) {
      const attacker = await StreamClient.open(base);
      const id = await attacker.linkId();
      await post(base, id, { ...HELLO, ...guess });
      const welcome = await attacker.next('welcome');
      expect(welcome).toMatchObject({ resumed: false, a: 0 });
      expect(welcome.sid).not.toBe(w.sid);
      expect(attacker.msgEvents()).toEqual([]);
    }
    expect(s.connected).toBe(false);
    const owner = await new PollClient(base).open();
    expect((await owner.poll(5000, { ...HELLO, sid: w.sid, key: w.key })).frames).toEqual([
      expect.objectContaining({ t: 'welcome', resumed: true, sid: w.sid }),
      expect.objectContaining({ t: 'msg', s: 1, d: ['private'] }),
    ]);
  });
});

// ---- long-poll links --------------------------------------------------------------------------

describe('long-poll links', () => {
  it('link GET, then a poll carrying hello returns the welcome', async () => {
    const { base } = await start();
    const p = await new PollClient(base).open();
    const { status, frames, text } = await p.poll(5000, HELLO);
    expect(status).toBe(200);
    expect(text.endsWith('\n')).toBe(true);
    expect(frames[0]).toMatchObject({ t: 'welcome', resumed: false });
  });

  it('welcome and the replay after it leave in one response', async () => {
    const { rt, base } = await start();
    rt.on('connection', (s) => {
      s.send(1);
      s.send(2);
    });
    const p = await new PollClient(base).open();
    const { frames } = await p.poll(5000, HELLO);
    expect(frames.map((f) => f.t)).toEqual(['welcome', 'msg']);
    expect(frames[1]).toMatchObject({ s: 1, d: [1, 2] });
  });

  it('a held poll is answered when session.send happens; wait=0 answers at once', async () => {
    const { rt, base } = await start();
    const sessionP = nextSession(rt);
    const p = await new PollClient(base).open();
    await p.poll(0, HELLO); // may or may not carry the welcome yet
    const s = await sessionP;
    if (!p.frames.some((f) => f.t === 'welcome')) await p.until('welcome');

    const started = Date.now();
    const empty = await p.poll(0);
    expect(empty).toMatchObject({ status: 200, frames: [], text: '' });
    expect(Date.now() - started).toBeLessThan(1000);

    const arrived = processed('wait=20000');
    const held = tracked(p.poll(20_000));
    await arrived;
    expect(held.settled()).toBe(false);
    s.send({ hi: 1 });
    const { frames } = await held.p;
    expect(frames).toEqual([{ t: 'msg', s: 1, d: [{ hi: 1 }], a: 0 }]);
  });

  it('a held poll ends empty after min(wait, pollTimeout)', async () => {
    const { base } = await start({ pollTimeout: 50 });
    const p = await new PollClient(base).open();
    await p.poll(0, HELLO);
    if (!p.frames.some((f) => f.t === 'welcome')) await p.until('welcome');
    const started = Date.now();
    expect(await p.poll(60_000)).toMatchObject({ status: 200, frames: [] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
  });

  it('a second poll answers the held one at once and takes over', async () => {
    const { rt, base } = await start();
    const sessionP = nextSession(rt);
    const p = await new PollClient(base).open();
    await p.poll(5000, HELLO);
    const s = await sessionP;
    let arrived = processed('wait=20000');
    const first = tracked(p.poll(20_000));
    await arrived;
    expect(first.settled()).toBe(false);
    arrived = processed('wait=20001');
    const second = tracked(p.poll(20_001));
    await waitFor(first.settled, { what: 'the first poll to be answered at once', timeout: 2000 });
    expect(await first.p).toMatchObject({ status: 200, frames: [], text: '' });
    await arrived;
    expect(second.settled()).toBe(false);
    s.send('for the second');
    expect((await second.p).frames).toEqual([{ t: 'msg', s: 1, d: ['for the second'], a: 0 }]);
  });

  it('an ack in the poll body drops messages from the replay buffer', async () => {
    const { rt, base } = await start();
    const sessionP = nextSession(rt);
    const p = await new PollClient(base).open();
    await p.poll(5000, HELLO);
    const s = await sessionP;
    s.send('a');
    s.send('b');
    s.send('c');
    const m = await p.until('msg');
    expect(m).toMatchObject({ s: 1, d: ['a', 'b', 'c'] });
    expect(s.unacknowledged).toBe(3);
    await p.poll(0, { t: 'ack', a: 2 });
    expect(s.unacknowledged).toBe(1);
    await p.poll(0, { t: 'pong', a: 3 });
    expect(s.unacknowledged).toBe(0);
  });

  it('messages sent by plain POST while a poll is held; the standalone ack comes back in the poll', async () => {
    const { rt, base } = await start({ ackDelay: 10 });
    const got: unknown[] = [];
    rt.on('connection', (s) => s.on('message', (d) => got.push(d)));
    const p = await new PollClient(base).open();
    // As the client does: the hello by plain POST while the first poll is already waiting.
    const firstPoll = p.poll(5000);
    expect((await post(base, p.id, HELLO)).status).toBe(204);
    if (!(await firstPoll).frames.some((f) => f.t === 'welcome')) await p.until('welcome');
    const held = p.poll(5000);
    expect((await post(base, p.id, { t: 'msg', s: 1, d: ['x', 'y'] })).status).toBe(204);
    expect((await held).frames).toEqual([{ t: 'ack', a: 2 }]);
    expect(got).toEqual(['x', 'y']);
  });

  it('when the server closes the link, the held poll gets the close frame, then the link is 404', async () => {
    const { rt, base } = await start();
    const sessionP = nextSession(rt);
    const p = await new PollClient(base).open();
    await p.poll(5000, HELLO);
    const s = await sessionP;
    const arrived = processed('wait=20000');
    const held = p.poll(20_000);
    await arrived;
    s.close(4403, 'kicked');
    expect((await held).frames).toEqual([{ t: 'close', code: 4403, reason: 'kicked' }]);
    expect((await p.poll(0)).status).toBe(404);
  });

  it('a close with no poll waiting is delivered to the next poll', async () => {
    const { rt, base } = await start();
    const sessionP = nextSession(rt);
    const p = await new PollClient(base).open();
    await p.poll(0, HELLO);
    const s = await sessionP;
    s.send('last');
    s.close(1000, 'done');
    const { frames } = await p.poll(5000);
    expect(frames.map((f) => f.t)).toContain('close');
    expect(frames.at(-1)).toEqual({ t: 'close', code: 1000, reason: 'done' });
    expect((await post(base, p.id, { t: 'ack', a: 0 })).status).toBe(404);
  });
});

// ---- errors, origin, CORS ---------------------------------------------------------------------

describe('HTTP errors, Origin and CORS', () => {
  it('unknown link → 404; bad requests → 400; other methods → 405; never crashes', async () => {
    const { base } = await start();
    const r = await post(base, 'nope', HELLO);
    expect(r.status).toBe(404);
    expect(await r.text()).toMatch(/unknown link/);
    expect((await fetch(`${base}?transport=carrier-pigeon`)).status).toBe(400);
    expect((await fetch(base)).status).toBe(400);
    expect((await fetch(`${base}?transport=websocket`)).status).toBe(400);
    expect((await fetch(base, { method: 'POST', body: 'x' })).status).toBe(400);
    const p = await new PollClient(base).open();
    expect((await fetch(`${base}?link=${p.id}&wait=soon`, { method: 'POST', body: '' })).status).toBe(400);
    const put = await fetch(base, { method: 'PUT', body: 'x' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST, OPTIONS');
    expect((await raw('GET', `${base}?%zz=%%`)).status).toBe(400);
    // Still serving.
    expect((await new PollClient(base).open()).id).toBeTruthy();
  });

  it('bad frames in a body close the link with 4400 (close frame on the link)', async () => {
    const { base } = await start();
    const c = await StreamClient.open(base);
    const id = await c.linkId();
    await post(base, id, HELLO);
    await c.next('welcome');
    expect((await post(base, id, '{not json')).status).toBe(204);
    expect(await c.next('close')).toEqual({ t: 'close', code: 4400, reason: 'frame is not valid JSON' });
    await waitFor(() => c.ended, { what: 'stream end' });
    // Invalid UTF-8 on a long-poll link.
    const p = await new PollClient(base).open();
    const r = await fetch(`${base}?link=${p.id}&wait=0`, { method: 'POST', body: new Uint8Array([0x7b, 0xff, 0x7d]) });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('{"t":"close","code":4400,"reason":"frame is not valid UTF-8"}\n');
  });

  it('a body over maxMessageBytes × 4 → 413 and the link closes with 4413', async () => {
    const { base } = await start({ maxMessageBytes: 1024 });
    const c = await StreamClient.open(base);
    const id = await c.linkId();
    await post(base, id, HELLO);
    await c.next('welcome');
    const r = await post(base, id, 'x'.repeat(5000));
    expect(r.status).toBe(413);
    expect((await c.next('close')).code).toBe(4413);
  });

  it('a refused body larger than the socket buffers still gets its 413, not a reset mid-upload', async () => {
    // The server decides at the Content-Length header; closing with megabytes unread would make the
    // kernel reset the connection, and the client would see EPIPE/ECONNRESET instead of the 413.
    const { base } = await start();
    const c = await StreamClient.open(base);
    const id = await c.linkId();
    await post(base, id, HELLO);
    await c.next('welcome');
    // From another process: in this one the server reads between the client's writes, and the
    // race never shows.
    const script = `
      const req = require('node:http').request(process.argv[1], { method: 'POST', headers: { 'Content-Type': 'text/plain' } }, (res) => console.log(res.statusCode));
      req.on('error', (err) => console.log(err.code));
      req.end('x'.repeat(5 * 1024 * 1024)); // over the default limit, 4 MiB`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script, `${base}?link=${id}`]);
    expect(stdout.trim()).toBe('413');
    expect((await c.next('close')).code).toBe(4413);
  });

  it('a refused body declared larger than 16 MiB is not read: answered 413 and closed at once', async () => {
    const { base, origin } = await start({ maxMessageBytes: 1024 });
    const p = await new PollClient(base).open();
    const { port } = new URL(origin);
    const socket = connect(Number(port), '127.0.0.1');
    socket.write(
      `POST /realtime?link=${p.id} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\nxxxx`,
    );
    socket.on('error', () => {});
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    const t0 = Date.now();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(Date.now() - t0).toBeLessThan(1500); // not the 2 s a body that may still come is waited for
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
  });

  it('a hello without token is authenticated with the Bearer token of the POST carrying it; a hello token wins; other schemes are ignored', async () => {
    const seen: Array<string | undefined> = [];
    const { base } = await start({
      authenticate: (token) => {
        seen.push(token);
        return token === 'good-tok';
      },
    });
    const helloPost = async (hello: object, authorization: string) => {
      const p = await new PollClient(base).open();
      const r = await fetch(`${base}?link=${p.id}&wait=0`, {
        method: 'POST',
        headers: { ...TEXT, Authorization: authorization },
        body: JSON.stringify(hello),
      });
      return parseFrame((await r.text()).split('\n')[0]!);
    };
    expect(await helloPost(HELLO, 'Bearer good-tok')).toMatchObject({ t: 'welcome' });
    const refused = await helloPost({ ...HELLO, token: 'bad-tok' }, 'Bearer good-tok');
    expect(refused).toEqual({ t: 'close', code: 4401, reason: 'unauthorized' });
    expect(await helloPost(HELLO, 'Basic Z29vZC10b2s=')).toMatchObject({ t: 'close', code: 4401 });
    expect(seen).toEqual(['good-tok', 'bad-tok', undefined]);
  });

  it('answers the preflight of a cross-origin hello POST with an Authorization header, cacheably', async () => {
    const { base } = await start({ allowedOrigins: ['https://good.example'] });
    const p = await new PollClient(base).open();
    const r = await raw('OPTIONS', `${base}?link=${p.id}`, {
      Origin: 'https://good.example',
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization',
    });
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe('https://good.example');
    expect(r.headers['access-control-allow-methods']!.split(/, */)).toContain('POST');
    expect(r.headers['access-control-allow-headers']!.toLowerCase().split(/, */)).toContain('authorization');
    expect(Number(r.headers['access-control-max-age'])).toBeGreaterThan(0);
  });

  it('forbidden Origin → 403 on the link GET of sse, fetch-stream and long-poll, on plain POSTs and on polls; allowed cross-origin gets Allow-Origin and Vary', async () => {
    const { rt, base } = await start({ allowedOrigins: ['https://good.example'] });
    let connections = 0;
    rt.on('connection', () => connections++);
    for (const t of ['sse', 'fetch-stream', 'long-poll']) {
      const r = await raw('GET', `${base}?transport=${t}`, { Origin: 'https://evil.example' });
      expect(r.status).toBe(403);
      expect(r.body).toMatch(/origin not allowed/);
      expect(r.headers['content-type']).toMatch(/^text\/plain/);
    }
    const p = await new PollClient(base).open(); // no Origin: same-origin request, allowed
    const bad = await raw(
      'POST',
      `${base}?link=${p.id}`,
      { Origin: 'https://evil.example', ...TEXT },
      JSON.stringify(HELLO),
    );
    expect(bad.status).toBe(403);
    const badPoll = await raw(
      'POST',
      `${base}?link=${p.id}&wait=0`,
      { Origin: 'https://evil.example', ...TEXT },
      JSON.stringify(HELLO),
    );
    expect(badPoll.status).toBe(403);
    expect(connections).toBe(0); // neither hello was processed
    const ok = await raw(
      'POST',
      `${base}?link=${p.id}&wait=0`,
      { Origin: 'https://good.example', ...TEXT },
      JSON.stringify(HELLO),
    );
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('https://good.example');
    expect(ok.headers.vary).toBe('Origin');
  });

  it('answers OPTIONS preflights', async () => {
    const { base } = await start({ allowedOrigins: ['https://good.example'] });
    const r = await raw('OPTIONS', `${base}?transport=sse`, {
      Origin: 'https://good.example',
      'Access-Control-Request-Method': 'GET',
      'Access-Control-Request-Headers': 'authorization',
    });
    expect(r.status).toBe(204);
    expect(r.headers).toMatchObject({
      'access-control-allow-origin': 'https://good.example',
      'access-control-allow-methods': 'GET, POST',
      'access-control-allow-headers': 'Content-Type, Authorization, Last-Event-ID',
      'access-control-max-age': '600',
      vary: 'Origin',
    });
    expect(
      (await raw('OPTIONS', base, { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' })).status,
    ).toBe(403);
  });

  it('transports not offered: HTTP 400, WebSocket upgrade refused with 403', async () => {
    const { base } = await start({ transports: ['long-poll'] });
    for (const t of ['sse', 'fetch-stream']) {
      const r = await fetch(`${base}?transport=${t}`);
      expect(r.status).toBe(400);
      expect(await r.text()).toMatch(/transport not offered/);
    }
    expect((await new PollClient(base).open()).id).toBeTruthy();
    const ws = new WebSocket(base.replace('http:', 'ws:'));
    const status = await new Promise<number>((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
      ws.on('open', () => reject(new Error('upgrade accepted')));
      ws.on('error', () => {});
    });
    expect(status).toBe(403);
  });

  it('limits sessions per address at hello (close 4429 on the link); resuming a session the address already has is not refused', async () => {
    const { base } = await start({ maxSessionsPerIp: 1 });
    const a = await new PollClient(base).open();
    const w = (await a.poll(5000, HELLO)).frames[0] as WelcomeFrame;
    expect(w).toMatchObject({ t: 'welcome', resumed: false });
    const b = await new PollClient(base).open();
    expect((await b.poll(5000, HELLO)).frames).toEqual([
      { t: 'close', code: 4429, reason: 'too many sessions from this address' },
    ]);
    const again = await new PollClient(base).open();
    expect((await again.poll(5000, { ...HELLO, sid: w.sid, key: w.key })).frames[0]).toMatchObject({
      t: 'welcome',
      resumed: true,
      sid: w.sid,
    });
  });

  it('limits links waiting for hello per address (429 with Retry-After)', async () => {
    const { base } = await start({ maxSessionsPerIp: 1 });
    await new PollClient(base).open();
    const r = await fetch(`${base}?transport=long-poll`);
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('concurrent POSTs to one link: a second plain POST while one is in progress → 429 (bodies are not buffered N at a time)', async () => {
    const { base } = await start();
    const p = await new PollClient(base).open();
    // A plain POST whose body never finishes: it stays in progress.
    const arrived = new Promise<void>((resolve) => {
      const on = (req: IncomingMessage): void => {
        if (req.method !== 'POST') return;
        httpServer!.off('request', on);
        setImmediate(resolve);
      };
      httpServer!.on('request', on);
    });
    const slow = httpRequest(`${base}?link=${p.id}`, {
      method: 'POST',
      headers: { ...TEXT, 'Content-Length': '1000' },
    });
    slow.on('error', () => {});
    slow.write(JSON.stringify(HELLO));
    await arrived;
    const second = await post(base, p.id, { t: 'ping' });
    expect(second.status).toBe(429);
    expect(await second.text()).toMatch(/in progress/);
    slow.destroy(); // aborted: the slot is free again
    let status = 0;
    for (let i = 0; i < 100 && status !== 204; i++) {
      status = (await post(base, p.id, { t: 'ping' })).status;
      if (status !== 204) await new Promise((r) => setTimeout(r, 10));
    }
    expect(status).toBe(204);
  });

  it('the waiting-for-hello limit is shared by HTTP links and WebSocket connections', async () => {
    const { base } = await start({ maxSessionsPerIp: 2 });
    const wsUrl = base.replace('http:', 'ws:');
    await new PollClient(base).open(); // waits for hello
    const ws = new WebSocket(wsUrl); // waits for hello too
    ws.on('error', () => {});
    await new Promise((resolve) => ws.on('open', resolve));
    expect((await fetch(`${base}?transport=long-poll`)).status).toBe(429);
    const closed = await new Promise<number>((resolve) => {
      const ws2 = new WebSocket(wsUrl);
      ws2.on('close', (code) => resolve(code));
      ws2.on('error', () => {});
    });
    expect(closed).toBe(4429);
    ws.terminate();
  });

  it('leaves other paths to the app', async () => {
    const { origin, base } = await start();
    const r = await fetch(`${origin}/index.html`);
    expect(await r.text()).toBe('app page');
    // And the app handler never touches ours.
    expect((await fetch(`${base}?transport=long-poll`)).headers.get('content-type')).toMatch(/ndjson/);
  });

  it('answers 404 on other paths when the http server has no other request listener (not a hang)', async () => {
    const { http, origin } = await scope.server(); // no app: the RealtimeServer is the only listener
    for (const path of ['/', '/realtime-typo']) {
      const r = await fetch(origin + path, { signal: AbortSignal.timeout(3000) });
      expect(r.status).toBe(404);
      expect(await r.text()).toMatch(/only its realtime endpoint, \/realtime/);
    }
    // A listener added later owns the other paths: no 404 of ours under its answer.
    http.on('request', (req, res) => req.url === '/late' && res.end('late page'));
    expect(await (await fetch(`${origin}/late`)).text()).toBe('late page');
  });
});

// ---- closing ----------------------------------------------------------------------------------

describe('closing', () => {
  it('a client close frame with 1000 ends the session; with 4000 keeps it resumable', async () => {
    const { rt, base } = await start();
    const ends: Array<[number, string]> = [];
    rt.on('connection', (s) => s.on('close', (code, reason) => ends.push([code, reason])));

    const a = await StreamClient.open(base);
    const ida = await a.linkId();
    await post(base, ida, HELLO);
    await a.next('welcome');
    expect((await post(base, ida, { t: 'close', code: 1000, reason: 'bye' })).status).toBe(204);
    await waitFor(() => ends.length === 1, { what: 'session end' });
    expect(ends).toEqual([[1000, 'bye']]);
    await waitFor(() => a.ended, { what: 'stream end' });

    const p = await new PollClient(base).open();
    const { frames } = await p.poll(5000, HELLO);
    const w = frames[0] as WelcomeFrame;
    expect((await post(base, p.id, { t: 'close', code: 4000, reason: 'switching' })).status).toBe(204);
    const s = rt.sessions.get(w.sid)!;
    await waitFor(() => !s.connected, { what: 'detach' });
    expect(s.closed).toBe(false);
    const p2 = await new PollClient(base).open();
    expect((await p2.poll(5000, { t: 'hello', v: [1], a: 0, sid: w.sid, key: w.key })).frames[0]).toMatchObject({
      t: 'welcome',
      resumed: true,
    });
    expect(ends).toHaveLength(1);
  });

  it('server.close() ends streams and held polls with a 1001 close frame, then 503', async () => {
    const { rt, base } = await start();
    const c = await StreamClient.open(base);
    const id = await c.linkId();
    await post(base, id, HELLO);
    await c.next('welcome');
    const pending = await StreamClient.open(base); // still in the handshake
    await pending.linkId();
    const p = await new PollClient(base).open();
    await p.poll(5000, HELLO);
    const arrived = processed('wait=20000');
    const held = p.poll(20_000);
    await arrived;

    await rt.close();
    const bye = { t: 'close', code: 1001, reason: 'server shutting down' };
    expect(await c.next('close')).toEqual(bye);
    expect(await pending.next('close')).toEqual(bye);
    await waitFor(() => c.ended && pending.ended, { what: 'streams to end' });
    expect((await held).frames).toEqual([bye]);
    expect(rt.sessions.size).toBe(0);
    // Once close() resolved, the path is the app's again.
    expect((await raw('GET', `${base}?transport=sse`)).body).toBe('app page');
  });

  it('handleRequest() without the server option; 503 with Retry-After once shutting down', async () => {
    const manual = new RealtimeServer({ path: '/rt' });
    const srv = createServer((req, res) => {
      if (!manual.handleRequest(req, res)) res.end('mine');
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/rt`;
    try {
      expect(await (await fetch(base.replace('/rt', '/x'))).text()).toBe('mine');
      const p = await new PollClient(base).open();
      expect((await p.poll(5000, HELLO)).frames[0]).toMatchObject({ t: 'welcome' });
      await manual.close();
      const r = await raw('GET', `${base}?transport=long-poll`);
      expect(r.status).toBe(503);
      expect(r.headers['retry-after']).toBe('5');
      expect((await p.poll(0)).status).toBe(503);
    } finally {
      srv.closeAllConnections();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
  });
});
