// @vitest-environment node
// What the reference server does with input meant to crash it or exhaust it (issue 10), checked
// one rule at a time in this process. test/integration/attack.test.ts attacks a server process
// as a whole and measures its memory and event loop.
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RealtimeServer, type RealtimeServerOptions, type Session } from '../../src/server';
import type { Connection } from '../../src/server/link';
import type { WelcomeFrame } from '../../src/protocol';
import { MAX_FRAMES_PER_POST } from '../../src/server/http/body';
import { pollLinks } from '../../src/server/http/poll';
import type { Responder } from '../../src/server/http/respond';
import type { Link } from '../../src/server/link';
import { resolveOptions } from '../../src/server/options';
import { CONTROL_BACKLOG_BYTES } from '../../src/server/writer';
import { testScope } from './harness';
import { abortStreams, HELLO, PollClient, post, StreamClient, TEXT } from './http-client';
import { RawClient } from './raw-client';
import { waitFor } from '../wait';

const scope = testScope();

function client(url: string): RawClient {
  const c = new RawClient(url);
  scope.defer(() => c.terminate());
  return c;
}

function nextSession(server: RealtimeServer): Promise<Session> {
  return new Promise((resolve) => server.once('connection', resolve));
}

/** A Connection driven by hand: what the session wrote, and a backlog the test sets. */
function handConnection() {
  const sent: string[] = [];
  const conn: Connection & { bufferedAmount: number } = {
    bufferedAmount: 0,
    send: (t) => void sent.push(t),
    close: () => {},
  };
  return { conn, sent, frames: () => sent.map((t) => JSON.parse(t) as { t: string; [k: string]: unknown }) };
}

const fakeRequest = { headers: {}, socket: { remoteAddress: '10.0.0.1' } } as unknown as IncomingMessage;

/** A server with no HTTP at all, closed after the test, and `open()` for sessions over hand-driven connections. */
function handServer(options: RealtimeServerOptions = {}) {
  const rt = new RealtimeServer(options);
  scope.defer(() => rt.close());
  /** One connection that said hello, and its session. */
  const open = async () => {
    const hand = handConnection();
    const sessionP = nextSession(rt);
    const link = rt.accept(hand.conn, fakeRequest);
    link.receive(JSON.stringify(HELLO));
    return { ...hand, link, session: await sessionP };
  };
  return { rt, open };
}

/** `{"t":[[[…1…]]]}` with `t` an array nested `depth` deep (8,006 bytes at 4,000). */
const deepT = (depth: number) => `{"t":${'['.repeat(depth)}1${']'.repeat(depth)}}`;
const deepObjectT = (depth: number) => `{"t":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;

afterEach(() => {
  abortStreams();
  vi.restoreAllMocks();
});

describe('frames built to crash the decoder', () => {
  it.each([
    ['an array', deepT(4000)],
    ['an object', deepObjectT(4000)],
  ])(
    't nested 4,000 deep in %s, before hello and after welcome: 4400 with a reason, and the server keeps serving',
    async (_kind, frame) => {
      const { url } = await scope.server();
      const early = client(url);
      await early.opened();
      early.send(frame);
      expect(await early.next('close')).toEqual({ t: 'close', code: 4400, reason: 'frame has no string "t"' });
      expect((await early.whenClosed()).code).toBe(4400);

      const late = client(url);
      await late.hello();
      late.send(frame);
      expect((await late.whenClosed()).code).toBe(4400);

      expect((await client(url).hello()).t).toBe('welcome');
    },
  );

  it('an array-valued t after welcome is a protocol error (4400), not a frame to ignore', async () => {
    const { url } = await scope.server();
    const c = client(url);
    await c.hello();
    c.send('{"t":["msg"],"s":1,"d":[1]}');
    expect(await c.next('close')).toMatchObject({ code: 4400 });
  });

  it('the deep frame in a POST: 204, and the link closes with 4400 (close frame on the stream)', async () => {
    const { base } = await scope.server();
    const stream = await StreamClient.open(base);
    const id = await stream.linkId();
    const r = await post(base, id, deepT(4000));
    expect(r.status).toBe(204);
    expect(await stream.next('close')).toEqual({ t: 'close', code: 4400, reason: 'frame has no string "t"' });
  });

  it('a bug of ours while handling a frame closes that connection with 4500 and is reported; the process and other sessions go on', async () => {
    const { rt, url } = await scope.server();
    const errors: unknown[] = [];
    rt.on('error', (e) => errors.push(e));
    const other = client(url);
    await other.hello();
    const victim = client(url);
    await victim.hello();
    const { Session } = await import('../../src/server/session');
    vi.spyOn(Session.prototype, 'handleFrame').mockImplementationOnce(() => {
      throw new Error('a bug');
    });
    victim.send({ t: 'ack', a: 0 });
    expect(await victim.next('close')).toEqual({ t: 'close', code: 4500, reason: 'internal error' });
    expect(errors).toEqual([new Error('a bug')]);
    other.send({ t: 'msg', s: 1, d: ['still here'] });
    expect((await other.next('ack')).a).toBe(1);
  });
});

describe('control frames obey backpressure', () => {
  it('pings that arrive together get one pong, carrying the ack', async () => {
    const { url } = await scope.server();
    const c = client(url);
    await c.hello();
    const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
    // One write, so the server reads every ping in one turn.
    socket.cork();
    for (let i = 0; i < 50; i++) c.send({ t: 'ping' });
    c.send({ t: 'msg', s: 1, d: ['after the pings'] });
    socket.uncork();
    expect(await c.next('pong')).toEqual({ t: 'pong', a: 1 });
    // Something the server sends later, to know that no other pong was on its way.
    c.send({ t: 'ping' });
    await c.next('pong');
    expect(c.frames.filter((f) => f.t === 'pong')).toHaveLength(2);
  });

  it('a pong waits while the connection holds more than CONTROL_BACKLOG_BYTES, then one goes for all the pings', async () => {
    const { conn, sent, frames, link } = await handServer().open();
    conn.bufferedAmount = CONTROL_BACKLOG_BYTES + 1; // the client reads nothing
    for (let i = 0; i < 20; i++) {
      link.receive('{"t":"ping"}');
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(frames().map((f) => f.t)).toEqual(['welcome']);
    conn.bufferedAmount = 0;
    await waitFor(() => sent.length === 2, { timeout: 3000, what: 'sent.length === 2' });
    expect(frames()[1]).toEqual({ t: 'pong', a: 0 });
  });

  it('a standalone ack waits for the backlog too, and goes once with the latest a', async () => {
    const { conn, sent, frames, link } = await handServer({ ackDelay: 1 }).open();
    conn.bufferedAmount = CONTROL_BACKLOG_BYTES + 1;
    for (let s = 1; s <= 300; s++) {
      link.receive(JSON.stringify({ t: 'msg', s, d: [s] }));
      if (s % 50 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(frames().map((f) => f.t)).toEqual(['welcome']);
    conn.bufferedAmount = 0;
    await waitFor(() => sent.length === 2, { timeout: 3000, what: 'sent.length === 2' });
    expect(frames()[1]).toEqual({ t: 'ack', a: 300 });
  });

  it('a peer that keeps sending but reads nothing is dropped after 2 × heartbeatInterval (4408), its session kept; a reader slower than the app is not', async () => {
    const { open } = handServer({ heartbeatInterval: 100, backpressureThreshold: 32 * 1024 });
    const opened = async () => {
      const o = await open();
      const closed: Array<[number, string]> = [];
      o.conn.close = (code, reason) => void closed.push([code, reason]);
      o.conn.send = (text) => void (o.conn.bufferedAmount += text.length); // what it writes, it must read
      return { ...o, closed };
    };
    const stuck = await opened();
    const slow = await opened();
    const started = Date.now();
    const kb = 'x'.repeat(1024);
    const timer = setInterval(() => {
      // Both keep sending, so neither is silent; the app sends each 30 KB per tick.
      for (const { link } of [stuck, slow]) link.receive('{"t":"ping"}');
      for (let i = 0; i < 30; i++) for (const { session } of [stuck, slow]) session.send(kb);
      // The slow one reads 16 KB per tick: its backlog never clears, yet it keeps moving.
      slow.conn.bufferedAmount = Math.max(0, slow.conn.bufferedAmount - 16 * 1024);
    }, 20);
    scope.defer(() => clearInterval(timer));
    await waitFor(() => stuck.closed.length > 0, { timeout: 2000, what: 'stuck.closed.length > 0' });
    expect(stuck.closed).toEqual([[4408, 'not reading: its backlog did not shrink for 200 ms']]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(stuck.session.closed).toBe(false);
    expect(stuck.session.connected).toBe(false);
    await new Promise((r) => setTimeout(r, 600)); // three more deadlines for the slow one
    expect(slow.closed).toEqual([]);
  });

  it('long-poll: pings to a link nobody polls queue at most CONTROL_BACKLOG_BYTES of pongs', async () => {
    const { base } = await scope.server();
    const p = await new PollClient(base).open();
    await post(base, p.id, HELLO);
    const pings = Array.from({ length: MAX_FRAMES_PER_POST }, () => '{"t":"ping"}');
    // One POST at a time, each its own turn: without the bound each one would queue a pong
    // (and, before pongs coalesced, each ping its own: 300,000 of them here).
    for (let i = 0; i < 300; i++) expect((await post(base, p.id, ...pings)).status).toBe(204);
    const { frames } = await p.poll(0);
    expect(frames[0]!.t).toBe('welcome');
    expect(frames.slice(1).every((f) => f.t === 'pong')).toBe(true);
    // Pongs were queued until the queue held more than the bound: the last one went over it.
    const queued = frames.reduce((bytes, f) => bytes + JSON.stringify(f).length, 0);
    expect(queued).toBeGreaterThan(CONTROL_BACKLOG_BYTES);
    expect(queued).toBeLessThanOrEqual(CONTROL_BACKLOG_BYTES + JSON.stringify(frames.at(-1)).length);
  });
});

describe('POST bodies', () => {
  it(`more than ${MAX_FRAMES_PER_POST} frames: 413 with Connection: close, none handled, the link closes with 4413; ${MAX_FRAMES_PER_POST} are taken`, async () => {
    const { rt, base } = await scope.server();
    const got: unknown[] = [];
    rt.on('connection', (s) => s.on('message', (d) => got.push(d)));
    const stream = await StreamClient.open(base);
    const id = await stream.linkId();
    await post(base, id, HELLO);
    await stream.next('welcome');
    const msgs = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ t: 'msg', s: from + i, d: [from + i] }));

    expect((await post(base, id, ...msgs(1, MAX_FRAMES_PER_POST), '', '  ')).status).toBe(204); // blank lines do not count
    expect(got).toHaveLength(MAX_FRAMES_PER_POST);

    const r = await post(base, id, ...msgs(MAX_FRAMES_PER_POST + 1, MAX_FRAMES_PER_POST + 1));
    expect(r.status).toBe(413);
    expect(r.headers.get('connection')).toBe('close');
    expect(await stream.next('close')).toEqual({
      t: 'close',
      code: 4413,
      reason: `request body carries more than ${MAX_FRAMES_PER_POST} frames`,
    });
    expect(got).toHaveLength(MAX_FRAMES_PER_POST);
  });

  it('a 4 MB body is handled a slice per turn of the event loop, in order, and answered before it is handled', async () => {
    const { rt, base } = await scope.server();
    const seqs: number[] = [];
    const turns = new Set<number>();
    let turn = 0;
    let turning = true;
    const tick = (): void => {
      turn++;
      if (turning) setImmediate(tick);
    };
    rt.on('connection', (s) =>
      s.on('message', (_d, seq) => {
        seqs.push(seq);
        turns.add(turn);
      }),
    );
    const p = await new PollClient(base).open();
    await post(base, p.id, HELLO);
    // 1,000 frames of about 3.8 KB, 1,900 tiny messages each: just under the 4 MiB body limit.
    const perFrame = 1900;
    const frames = Array.from(
      { length: 1000 },
      (_, f) => `{"t":"msg","s":${f * perFrame + 1},"d":[${Array(perFrame).fill('0').join(',')}]}`,
    );
    setImmediate(tick);
    const r = await post(base, p.id, ...frames);
    expect(r.status).toBe(204);
    // Answered once the body was taken, while its frames are handled (§14.3): the client's next
    // body travels meanwhile, is taken (not 429), and its frames come after these.
    expect(seqs.length).toBeLessThan(1000 * perFrame);
    const next = await post(base, p.id, `{"t":"msg","s":${1000 * perFrame + 1},"d":["last"]}`);
    expect(next.status).toBe(204);
    await waitFor(() => seqs.length === 1000 * perFrame + 1, { what: 'every message delivered' });
    turning = false;
    expect(seqs.every((seq, i) => seq === i + 1)).toBe(true);
    // About 3.8 MB / 64 KB = 60 slices; handled in one turn it would be 1.
    expect(turns.size).toBeGreaterThan(30);
  });

  it('a body that does not arrive within requestTimeout: 408 with Connection: close, none of it handled, the link dropped with 4408 and the session resumable', async () => {
    const { rt, base } = await scope.server({ requestTimeout: 300 });
    const got: unknown[] = [];
    rt.on('connection', (s) => s.on('message', (d) => got.push(d)));
    const stream = await StreamClient.open(base);
    const id = await stream.linkId();
    await post(base, id, HELLO);
    const w = await stream.next('welcome');
    const reply = new Promise<{ status: number; connection?: string }>((resolve, reject) => {
      const req = httpRequest(
        `${base}?link=${id}`,
        { method: 'POST', headers: { ...TEXT, 'Content-Length': '1000' } },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode!, connection: res.headers.connection });
        },
      );
      req.on('error', reject);
      req.write(JSON.stringify({ t: 'msg', s: 1, d: ['half'] }) + '\n'); // and the rest never comes
    });
    expect(await reply).toEqual({ status: 408, connection: 'close' });
    expect(await stream.next('close')).toEqual({
      t: 'close',
      code: 4408,
      reason: 'request body not received within 300 ms',
    });
    expect(got).toEqual([]);
    const again = await StreamClient.open(base);
    const id2 = await again.linkId();
    await post(base, id2, { ...HELLO, sid: w.sid, key: w.key });
    expect(await again.next('welcome')).toMatchObject({ resumed: true, sid: w.sid });
  });
});

describe('maxTotalBodyBytes', () => {
  it('when bodies held would pass it, the largest still arriving gets 429 with Retry-After and its link 4429; the others, and new ones, go on', async () => {
    const { base, http } = await scope.server({ maxMessageBytes: 4096, maxTotalBodyBytes: 32 * 1024 });
    const links = await Promise.all(
      ['a', 'b', 'c', 'd'].map(async () => {
        const stream = await StreamClient.open(base);
        const id = await stream.linkId();
        await post(base, id, HELLO);
        await stream.next('welcome');
        return { stream, id };
      }),
    );
    // Bytes the server has received of each POST body from here on, by link id.
    const received = new Map<string, number>();
    http.on('request', (req: IncomingMessage) => {
      const id = new URL(req.url!, 'http://x').searchParams.get('link');
      if (req.method === 'POST' && id)
        req.on('data', (c: Buffer) => received.set(id, (received.get(id) ?? 0) + c.length));
    });
    const [a, b, c, d] = links as [(typeof links)[0], (typeof links)[0], (typeof links)[0], (typeof links)[0]];
    // 100-byte lines: a ping padded with spaces (JSON allows them).
    const lines = (bytes: number) => `${'{"t":"ping"}'.padEnd(99)}\n`.repeat(bytes / 100);
    /** A POST declaring `declared` bytes, of which `sent` are written now; `rest()` writes the others. */
    const trickle = (id: string, declared: number, sent: number) => {
      let req!: ReturnType<typeof httpRequest>;
      const reply = new Promise<{ status: number; headers: IncomingMessage['headers'] }>((resolve, reject) => {
        req = httpRequest(
          `${base}?link=${id}`,
          { method: 'POST', headers: { ...TEXT, 'Content-Length': String(declared) } },
          (res) => {
            res.resume();
            resolve({ status: res.statusCode!, headers: res.headers });
          },
        );
        req.on('error', reject);
      });
      req.write(lines(sent));
      return { reply, rest: () => req.end(lines(declared - sent)) };
    };
    const pa = trickle(a.id, 16_000, 14_000);
    await waitFor(() => received.get(a.id) === 14_000, { timeout: 3000, what: 'received.get(a.id) === 14_000' });
    const pb = trickle(b.id, 9000, 8000);
    await waitFor(() => received.get(b.id) === 8000, { timeout: 3000, what: 'received.get(b.id) === 8000' });
    // 14,000 + 8,000 + 11,000 > 32,768: the largest arriving, a's, is dropped.
    const pc = trickle(c.id, 12_000, 11_000);
    const refused = await pa.reply;
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers.connection).toBe('close');
    expect(await a.stream.next('close')).toEqual({
      t: 'close',
      code: 4429,
      reason: 'server busy: too many request bytes in flight',
    });
    expect((await post(base, d.id, { t: 'msg', s: 1, d: ['small and quick'] })).status).toBe(204);
    pb.rest();
    pc.rest();
    expect((await pb.reply).status).toBe(204);
    expect((await pc.reply).status).toBe(204);
  });

  it('must leave room for one body of 4 × maxMessageBytes', () => {
    expect(() => new RealtimeServer({ maxMessageBytes: 4096, maxTotalBodyBytes: 4 * 4096 - 1 })).toThrow(RangeError);
  });
});

describe('headersTimeout', () => {
  it("lowers the attached server's headersTimeout, never raises it; 0 leaves it alone", () => {
    const at = (server: Server, options: RealtimeServerOptions = {}) => {
      void new RealtimeServer({ server, ...options }).close();
      return server.headersTimeout;
    };
    expect(at(createServer())).toBe(20_000); // Node's default is 60,000
    expect(at(createServer(), { headersTimeout: 5000 })).toBe(5000);
    expect(at(createServer({ headersTimeout: 1000 }))).toBe(1000);
    expect(at(createServer(), { headersTimeout: 0 })).toBe(60_000);
  });

  it('a connection that never finishes its headers is answered 408 and closed', async () => {
    const { port } = await scope.server({
      headersTimeout: 200,
      server: createServer({ connectionsCheckingInterval: 50 }),
    });
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write('GET /realtime?transport=sse HTTP/1.1\r\nHost: x\r\n'); // and no blank line
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('long-poll: what is queued goes only to a poll that can still take it (§14.4)', () => {
  /** A poll's responder: `over` when its request already ended (client gone, or refused). */
  const responder = (over: boolean) => {
    const answers: string[] = [];
    const r: Responder = {
      done: over,
      answer: (_s, _h, body) => void answers.push(body),
      cut: () => {},
      onClose: () => {},
    };
    return { r, answers };
  };

  it('a poll whose request is over, when its turn to answer comes, leaves the queue to the next poll', async () => {
    const res = { writeHead: () => {}, end: () => {} } as unknown as import('node:http').ServerResponse;
    const l = pollLinks.create(res, resolveOptions({}), () => {});
    l.link = { transportClosed: () => {} } as unknown as Link;
    l.send('{"t":"ping","a":0}');
    const dead = responder(true);
    l.polls!.begin(dead.r, 20_000);
    const live = responder(false);
    l.polls!.hold(l.polls!.begin(live.r, 0)); // the new poll answers the previous one, then takes its turn
    await new Promise((resolve) => setImmediate(resolve)); // frames queued together leave at the end of the turn
    expect(dead.answers).toEqual([]);
    expect(live.answers).toEqual(['{"t":"ping","a":0}\n']);
    l.shutdown();
  });
});

describe('long-poll links replaced by a resume', () => {
  it('are released at once: a poll held on one is answered, and the next request naming it gets 404', async () => {
    const { base } = await scope.server();
    const first = await new PollClient(base).open();
    const w = (await first.poll(5000, HELLO)).frames[0] as WelcomeFrame;
    const held = first.poll(20_000);
    const second = await new PollClient(base).open();
    await post(base, second.id, { ...HELLO, sid: w.sid, key: w.key });
    expect((await held).status).toBe(200);
    expect((await post(base, first.id, { t: 'ping' })).status).toBe(404);
    expect((await first.poll(0)).status).toBe(404);
    expect((await second.poll(5000)).frames[0]).toMatchObject({ t: 'welcome', resumed: true });
  });

  it('are released at once with frames still queued and no poll held', async () => {
    const { rt, base } = await scope.server();
    const sessionP = nextSession(rt);
    const first = await new PollClient(base).open();
    const w = (await first.poll(5000, HELLO)).frames[0] as WelcomeFrame;
    (await sessionP).send('queued on the first link, never polled');
    const second = await new PollClient(base).open();
    await post(base, second.id, { ...HELLO, sid: w.sid, key: w.key });
    // A lingering link would answer this poll with what it still held.
    expect((await first.poll(0)).status).toBe(404);
    const { frames } = await second.poll(5000);
    expect(frames[0]).toMatchObject({ t: 'welcome', resumed: true });
    expect(frames[1]).toMatchObject({ t: 'msg', s: 1, d: ['queued on the first link, never polled'] });
  });
});

describe('maxTotalReplayBytes', () => {
  it('when a message would not fit, the session holding the most is ended with 4500; a client that acks keeps its session and every message', async () => {
    const { rt, url } = await scope.server({ maxMessageBytes: 4096, maxTotalReplayBytes: 64 * 1024 });
    const sessions: Session[] = [];
    rt.on('connection', (s) => sessions.push(s));
    const hog = client(url);
    await hog.hello();
    const good = client(url);
    await good.hello();
    await waitFor(() => sessions.length === 2, { timeout: 3000, what: 'sessions.length === 2' });
    const [hogSession, goodSession] = sessions as [Session, Session];
    const hogClosed = new Promise<[number, string]>((resolve) => hogSession.once('close', (...a) => resolve(a)));
    const payload = 'x'.repeat(1000);
    for (let i = 1; i <= 200; i++) {
      hogSession.send({ i, payload });
      goodSession.send({ i, payload });
      // The good client acks what it has: its buffer stays small.
      await waitFor(() => good.messages().length === i, { timeout: 3000, what: 'good.messages().length === i' });
      good.send({ t: 'ack', a: i });
      await waitFor(() => goodSession.unacknowledged === 0, {
        timeout: 3000,
        what: 'goodSession.unacknowledged === 0',
      });
    }
    expect(await hogClosed).toEqual([4500, 'server replay memory full']);
    expect(await hog.next('close')).toEqual({ t: 'close', code: 4500, reason: 'server replay memory full' });
    expect(goodSession.closed).toBe(false);
    expect(good.messages().map(([seq, d]) => [seq, (d as { i: number }).i])).toEqual(
      Array.from({ length: 200 }, (_, k) => [k + 1, k + 1]),
    );
  });

  it('counts disconnected sessions too: the largest is ended, and its close says why', async () => {
    const { rt, url } = await scope.server({ maxMessageBytes: 4096, maxTotalReplayBytes: 64 * 1024 });
    const sessionP = nextSession(rt);
    const c = client(url);
    await c.hello();
    const away = await sessionP;
    away.disconnect();
    const closed = new Promise<[number, string]>((resolve) => away.once('close', (...a) => resolve(a)));
    let sent = 0;
    while (!away.closed && sent < 1000) if (away.send('y'.repeat(1000))) sent++;
    expect(await closed).toEqual([4500, 'server replay memory full']);
    // About 64 KB / (1 KB + 64 B) messages fitted.
    expect(sent).toBeGreaterThan(50);
    expect(sent).toBeLessThan(64);
  });

  it('must leave room for one message of maxMessageBytes', () => {
    expect(() => new RealtimeServer({ maxMessageBytes: 4096, maxTotalReplayBytes: 4095 })).toThrow(RangeError);
  });
});
