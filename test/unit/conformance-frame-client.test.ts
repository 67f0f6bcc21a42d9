// @vitest-environment node
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { CaseFailure, TimedOut } from '../../src/conformance/errors';
import type { Target } from '../../src/conformance/target';
import { longPoll } from '../../src/conformance/transports/long-poll';
import { sse } from '../../src/conformance/transports/stream';
import { websocket } from '../../src/conformance/transports/websocket';

/**
 * The kit's frame-level clients against scripted fake servers (not the reference server): what
 * they record, the pongs they send, how they see a connection end, and what their requests carry.
 */

let http: Server | null = null;
afterEach(async () => {
  http?.closeAllConnections();
  await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
  http = null;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<Target> {
  http = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => handler(req, res, body));
  });
  await new Promise<void>((r) => http!.listen(0, '127.0.0.1', r));
  const { port } = http.address() as AddressInfo;
  return {
    http: `http://127.0.0.1:${port}/rt`,
    ws: `ws://127.0.0.1:${port}/rt`,
    scale: 1,
    origin: 'https://app.test',
    token: 'tok',
  };
}

describe('WebSocket frame client', () => {
  it('records frames and garbage, pongs with the highest seq received without a gap, and ends with the close frame and code', async () => {
    const target = await serve(() => {});
    const wss = new WebSocketServer({ server: http! });
    const got: string[] = [];
    const headers: Array<string | undefined> = [];
    wss.on('connection', (ws: WebSocket, req) => {
      headers.push(req.headers.origin);
      ws.on('message', (m) => {
        got.push((m as Buffer).toString()); // binaryType 'nodebuffer', the default: always one Buffer
        if (got.length === 2) ws.close(4403, 'bye');
      });
      ws.send('{"t":"msg","s":1,"d":["a","b"]}');
      ws.send('{"t":"msg","s":4,"d":["gap"]}');
      ws.send('not json');
      ws.send('{"t":"ping","a":0}');
      ws.send('{"t":"close","code":4403,"reason":"bye"}');
    });
    const conn = await websocket.open(target);
    await conn.send([{ t: 'hello', v: [1], a: 0 }]);
    const end = await conn.gone(3000);
    expect(end).toEqual({ frame: { code: 4403, reason: 'bye' }, code: 4403, reason: 'bye', gone: true });
    expect(conn.frames.map((f) => f.t)).toEqual(['msg', 'msg', 'ping', 'close']);
    expect(conn.garbage).toEqual(['not json']);
    expect(conn.received).toBe(2); // s 4 is past a gap
    // The pong may go before the hello: the fake server pings before the kit says hello.
    expect(got.sort()).toEqual([JSON.stringify({ t: 'hello', v: [1], a: 0, token: 'tok' }), '{"t":"pong","a":2}']);
    expect(headers).toEqual(['https://app.test']);
    wss.close();
  });

  it('next() takes frames in order, and fails at once, not after its wait, once the connection is over', async () => {
    const target = await serve(() => {});
    const wss = new WebSocketServer({ server: http! });
    wss.on('connection', (ws: WebSocket) => {
      ws.send('{"t":"ack","a":1}');
      ws.send('{"t":"ack","a":2}');
      ws.close(1000);
    });
    const conn = await websocket.open(target);
    expect((await conn.next((f) => f.t === 'ack', 'an ack', 3000)).a).toBe(1);
    expect((await conn.next((f) => f.t === 'ack', 'an ack', 3000)).a).toBe(2);
    const started = Date.now();
    await expect(conn.next((f) => f.t === 'ack', 'a third ack', 3000)).rejects.toBeInstanceOf(CaseFailure);
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(conn.until(() => undefined, 'nothing', 20)).rejects.toBeInstanceOf(TimedOut);
    wss.close();
  });
});

describe('stream frame client', () => {
  it('parses the event stream (CRLF, comments, id:) and POSTs frames to its link, hello with the bearer token', async () => {
    const posts: Array<{ url: string; auth?: string; origin?: string; body: string }> = [];
    const target = await serve((req, res, body) => {
      if (req.method === 'POST') {
        posts.push({ url: req.url!, auth: req.headers.authorization, origin: req.headers.origin, body });
        return res.writeHead(204).end();
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(':ok\n\ndata: {"t":"link","id":"L1"}\n\n');
      res.write('data: {"t":"welcome","v":1}\r\n\r\n:\n\nid: 3\ndata: {"t":"msg","s":1,"d":[1,2,3]}\n\n');
      res.end('data: {"t":"close","code":1001,"reason":"x"}\n\n');
    });
    const conn = await sse.open(target);
    expect(conn.linkId).toBe('L1');
    await conn.gone(3000);
    expect(conn.frames.map((f) => f.t)).toEqual(['welcome', 'msg', 'close']);
    expect(conn.received).toBe(3);
    expect(conn.ending).toMatchObject({ frame: { code: 1001, reason: 'x' }, gone: true });
    expect(await conn.send([{ t: 'hello', v: [1], a: 0 }, '{"t":"ping"}'])).toEqual({ status: 204, body: '' });
    await conn.send([{ t: 'ack', a: 1 }]);
    expect(posts).toEqual([
      {
        url: '/rt?link=L1',
        auth: 'Bearer tok',
        origin: 'https://app.test',
        body: '{"t":"hello","v":[1],"a":0}\n{"t":"ping"}',
      },
      { url: '/rt?link=L1', auth: undefined, origin: 'https://app.test', body: '{"t":"ack","a":1}' },
    ]);
  });
});

describe('long-poll frame client', () => {
  it('polls with wait until a 404 ends the link, taking the frames of every answer', async () => {
    const polls: string[] = [];
    const target = await serve((req, res) => {
      if (req.method === 'GET') return res.writeHead(200).end('{"t":"link","id":"P1"}\n');
      polls.push(req.url!);
      if (polls.length === 1) return res.writeHead(200).end('{"t":"welcome","v":1}\n{"t":"msg","s":1,"d":["m"]}\n');
      res.writeHead(404).end('unknown link\n');
    });
    const conn = await longPoll.open(target);
    const end = await conn.gone(3000);
    expect(end).toEqual({ code: 404, reason: 'unknown link', gone: true });
    expect(conn.frames.map((f) => f.t)).toEqual(['welcome', 'msg']);
    expect(polls).toEqual(['/rt?link=P1&wait=10000', '/rt?link=P1&wait=10000']);
  });

  it('a link answered with a non-200 open is a failure naming the status', async () => {
    const target = await serve((_req, res) => res.writeHead(403).end('origin not allowed\n'));
    await expect(longPoll.open(target)).rejects.toThrow(/HTTP 403 origin not allowed/);
    await expect(sse.open(target)).rejects.toThrow(/HTTP 403 origin not allowed/);
  });
});
