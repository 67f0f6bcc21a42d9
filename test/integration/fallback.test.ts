// @vitest-environment node
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RealtimeClient, RealtimeError } from '../../src/index';
import type { Session } from '../../src/server/index';
import { bufferingProxy } from './buffering-proxy';
import { testScope } from './harness';
import { waitFor } from '../wait';

const { server, client, defer } = testScope();

function trackTransports(c: RealtimeClient) {
  const seen: Array<string | null> = [];
  c.on('transport', (t) => seen.push(t.to));
  return seen;
}

describe('fallback and upgrade', () => {
  it('the server refuses WebSocket upgrades: the client ends on sse, at once and without backoff', async () => {
    const s = await server({ transports: ['sse', 'fetch-stream', 'long-poll'] });
    s.rt.on('connection', (session: Session) => session.on('message', (d) => session.send(d)));
    const c = client(s.url);
    const reconnects: unknown[] = [];
    c.on('reconnecting', (r) => reconnects.push(r));
    const got: unknown[] = [];
    c.on('message', (d) => got.push(d));
    await waitFor(() => c.state === 'open', { what: 'open' });
    expect(c.transport).toBe('sse');
    expect(reconnects).toEqual([]);
    await c.send('via sse');
    await waitFor(() => got.length === 1, { what: 'echo' });
  });

  it('a buffering proxy holds every response body until it ends: the client ends on long-poll, without waiting heartbeat.timeout per stream', async () => {
    const s = await server();
    s.rt.on('connection', (session: Session) => session.on('message', (d) => session.send(d)));
    const proxy = await bufferingProxy(s.port);
    defer(() => proxy.close());
    const c = client(proxy.url); // heartbeat.timeout 10 s: one stream at a time would take 13 s
    const seen = trackTransports(c);
    const closes: Array<[number, string]> = [];
    c.on('close', (e) => closes.push([e.code, e.reason]));
    // websocket refused; sse starved of bytes, fetch-stream started beside it at 1 s, long-poll at 2 s
    await waitFor(() => c.state === 'open', { what: 'open through the proxy', timeout: 6_000 });
    expect(c.transport).toBe('long-poll');
    expect(seen).toEqual(['long-poll']);
    // No stream was waited out (4408): they lost the race and were closed by the client. The
    // refusal of websocket is a close, unless long-poll won before it came (a busy machine).
    expect(closes.filter(([code]) => code === 4408)).toEqual([]);
    expect(closes.length).toBeLessThanOrEqual(1);
    const got: unknown[] = [];
    c.on('message', (d) => got.push(d));
    await c.send('through the proxy');
    await waitFor(() => got.length === 1, { what: 'echo over long-poll' });
  });

  it('the server later accepts WebSocket again: the client upgrades back, losing and repeating nothing', async () => {
    const s = await server();
    // A firewall in front of the upgrade handler: refuse WebSocket until told otherwise.
    let refuse = true;
    const handlers = s.http.listeners('upgrade') as Array<(req: IncomingMessage, sock: Duplex, head: Buffer) => void>;
    s.http.removeAllListeners('upgrade');
    s.http.on('upgrade', (req: IncomingMessage, sock: Duplex, head: Buffer) =>
      refuse ? sock.destroy() : handlers.forEach((h) => h.call(s.http, req, sock, head)),
    );

    const atServer: number[] = [];
    let session: Session | undefined;
    s.rt.on('connection', (x: Session) => {
      session = x;
      x.on('message', (d) => atServer.push(d as number));
    });
    const c = client(s.url, { probeInterval: 150 });
    const seen = trackTransports(c);
    const atClient: number[] = [];
    c.on('message', (d) => atClient.push(d as number));
    await waitFor(() => session && c.state === 'open', { what: 'open' });
    expect(c.transport).toBe('sse');

    // Traffic both ways throughout the switch.
    let i = 0;
    const sends: Promise<void>[] = [];
    const pump = setInterval(() => {
      for (let k = 0; k < 20; k++, i++) {
        sends.push(c.send(i));
        session!.send(i);
      }
    }, 5);
    await waitFor(() => i >= 200, { what: 'traffic over sse' });
    refuse = false;
    await waitFor(() => c.transport === 'websocket' && c.state === 'open', { what: 'the upgrade', timeout: 10_000 });
    await waitFor(() => i >= 600, { what: 'traffic after the upgrade' });
    clearInterval(pump);
    await Promise.all(sends);
    await waitFor(() => atClient.length >= i && atServer.length >= i, { what: 'everything delivered' });
    expect(seen).toEqual(['sse', 'websocket']);
    expect(atServer).toEqual([...Array(i).keys()]);
    expect(atClient).toEqual([...Array(i).keys()]);
    expect(s.rt.sessions.size).toBe(1);
  });

  it('the transport that worked is remembered: the next client with the same URL skips the dead ones', async () => {
    const s = await server({ transports: ['long-poll'] });
    const store = new Map<string, string>();
    const storage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
      removeItem: (k: string) => void store.delete(k),
    };
    const first = client(s.url, { env: { storage } });
    await waitFor(() => first.state === 'open', { what: 'first open' });
    expect(first.transport).toBe('long-poll');
    first.close();
    const second = client(s.url, { env: { storage } });
    const closes: unknown[] = [];
    second.on('close', (e) => closes.push(e));
    await waitFor(() => second.state === 'open', { what: 'second open' });
    expect(second.transport).toBe('long-poll');
    expect(closes).toEqual([]); // no failed attempt on websocket, sse or fetch-stream
  });
});

describe('HTTP errors from the server', () => {
  it.each([500, 503])(
    '%i with Retry-After: the client waits at least that long, and tries no other transport meanwhile',
    async (status) => {
      const s = await server();
      let refusals = 2;
      const requests: number[] = [];
      // In front of the reference server: refuse the first link requests as an overloaded server would.
      const handlers = s.http.listeners('request') as Array<(...a: unknown[]) => void>;
      s.http.removeAllListeners('request');
      s.http.on('request', (req: IncomingMessage, res: import('node:http').ServerResponse) => {
        if (req.url!.includes('transport=') && refusals > 0) {
          refusals--;
          requests.push(Date.now());
          return res.writeHead(status, { 'Retry-After': '1', 'Content-Type': 'text/plain' }).end('busy');
        }
        handlers.forEach((h) => h.call(s.http, req, res));
      });
      const c = client(s.url, { transports: ['long-poll', 'fetch-stream'] });
      const delays: number[] = [];
      c.on('reconnecting', (r) => delays.push(r.delay));
      const seen = trackTransports(c);
      await waitFor(() => c.state === 'open', { what: 'open after the server recovers', timeout: 10_000 });
      expect(delays.length).toBe(2);
      for (const d of delays) expect(d).toBeGreaterThanOrEqual(1000);
      expect(requests[1]! - requests[0]!).toBeGreaterThanOrEqual(950);
      expect(seen).toEqual(['long-poll']);
    },
  );
});

describe('a wrong endpoint', () => {
  it('404 on every transport: one connect-failed error per attempt naming the status, and backoff, not a tight loop', async () => {
    const s = await server();
    const wrong = s.url.replace('/realtime', '/no-such-path');
    const c = client(wrong, {
      transports: ['sse', 'fetch-stream', 'long-poll'],
      reconnect: { initialDelay: 200, maxDelay: 200 },
    });
    const errors: RealtimeError[] = [];
    c.on('error', (e) => errors.push(e));
    let requests = 0;
    // The application's own handler for every other path, as a real site has.
    s.http.on('request', (req: IncomingMessage, res: import('node:http').ServerResponse) => {
      requests++;
      if (!req.url!.startsWith('/realtime'))
        res.writeHead(404, { 'Content-Type': 'text/html' }).end('<h1>Not found</h1>');
    });
    await waitFor(() => errors.length >= 2, { what: 'two failed attempts' });
    expect(errors[0]).toMatchObject({ code: 'connect-failed' });
    expect(errors[0]!.message).toContain('sse: 1006 HTTP 404 <h1>Not found</h1>');
    expect(errors[0]!.message).toContain('fetch-stream: 1006 HTTP 404');
    expect(errors[0]!.message).toContain('long-poll: 1006 HTTP 404');
    // 4 requests per attempt (sse's EventSource and the one GET that explains its failure,
    // fetch-stream, long-poll), attempts ~100 ms apart on average (full jitter up to 200 ms):
    // about 40 a second, far from a tight loop (which would be thousands).
    const t0 = Date.now();
    const before = requests;
    await new Promise((r) => setTimeout(r, 1000));
    expect((requests - before) / ((Date.now() - t0) / 1000)).toBeLessThan(80);
  });
});
