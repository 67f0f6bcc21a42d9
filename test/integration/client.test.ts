// @vitest-environment node
import { afterEach, describe, expect, it } from 'vitest';
import { RealtimeClient, type ClientOptions } from '../../src/index';
import type { Session } from '../../src/server/index';
import { fastReconnect, nodeEnv, seeded, startServer, waitFor } from './harness';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function server(options?: Parameters<typeof startServer>[0], port?: number) {
  const s = await startServer(options, port);
  cleanup.push(() => s.close());
  return s;
}

function client(url: string, options: ClientOptions = {}) {
  const c = new RealtimeClient(url, { transports: ['websocket'], reconnect: fastReconnect, ...options, env: { ...nodeEnv, ...options.env } });
  cleanup.push(() => c.close());
  return c;
}

describe('client and reference server over real WebSockets', () => {
  it('echo: a message goes to the server and its echo comes back', async () => {
    const s = await server();
    s.rt.on('connection', (session: Session) => session.on('message', (d) => session.send({ echo: d })));
    const c = client(s.url);
    const got: unknown[] = [];
    c.on('message', (d) => got.push(d));
    await c.send('hi');
    await waitFor(() => got.length === 1, 'the echo');
    expect(got).toEqual([{ echo: 'hi' }]);
    expect(c.state).toBe('open');
    expect(c.transport).toBe('websocket');
  });

  it('1,000 messages each way while the server drops the connection at random points: each arrives exactly once, in order', async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 100000);
    console.log(`drop schedule seed=${seed} (rerun with SEED=${seed})`);
    const random = seeded(seed);
    const s = await server();
    const N = 1000;
    const atServer: number[] = [];
    let session: Session | undefined;
    s.rt.on('connection', (x: Session) => {
      session = x;
      x.on('message', (d) => atServer.push(d as number));
    });
    const c = client(s.url);
    const atClient: number[] = [];
    c.on('message', (d) => atClient.push(d as number));
    await waitFor(() => session && c.state === 'open', 'the first connection');

    let drops = 0;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      sends.push(c.send(i));
      session!.send(i);
      // Yield now and then so frames hit the wire between drops.
      if (random() < 0.05) await new Promise((r) => setTimeout(r, 1));
      if (random() < 0.02) {
        session!.disconnect();
        drops++;
      }
    }
    await Promise.all(sends);
    await waitFor(() => atClient.length >= N && atServer.length >= N, 'all messages both ways', 30_000);
    await new Promise((r) => setTimeout(r, 100)); // let any late duplicate show itself
    expect(drops).toBeGreaterThan(5);
    expect(atServer).toEqual([...Array(N).keys()]);
    expect(atClient).toEqual([...Array(N).keys()]);
    expect(s.rt.sessions.size).toBe(1);
  });

  it('server restart: the client reconnects to the new process and works again', async () => {
    const s1 = await startServer();
    const c = client(s1.url);
    const reconnects: number[] = [];
    c.on('reconnecting', (r) => reconnects.push(r.attempt));
    await waitFor(() => c.state === 'open', 'open');
    await s1.close();
    await waitFor(() => c.state === 'reconnecting', 'reconnecting');
    const s2 = await server({}, s1.port);
    s2.rt.on('connection', (session: Session) => session.on('message', (d) => session.send(d)));
    await waitFor(() => c.state === 'open', 'reopen on the restarted server');
    expect(reconnects.length).toBeGreaterThan(0);
    const got: unknown[] = [];
    c.on('message', (d) => got.push(d));
    await c.send('after restart');
    await waitFor(() => got.length === 1, 'echo after restart');
  });

  it('close(): no further connection attempts reach the server', async () => {
    const s = await server();
    let connections = 0;
    s.http.on('upgrade', () => connections++);
    const c = client(s.url);
    await waitFor(() => c.state === 'open', 'open');
    c.close();
    expect(c.state).toBe('closed');
    const before = connections;
    for (const session of s.rt.sessions.values()) session.disconnect();
    await new Promise((r) => setTimeout(r, 500)); // 25× the first retry's upper bound
    expect(connections).toBe(before);
  });

  it('resume after a drop: messages the server pushed meanwhile are replayed, none twice', async () => {
    const s = await server();
    let session: Session | undefined;
    s.rt.on('connection', (x: Session) => (session = x));
    const c = client(s.url, { reconnect: { initialDelay: 200, maxDelay: 200 } });
    const got: unknown[] = [];
    c.on('message', (d) => got.push(d));
    await waitFor(() => session && c.state === 'open', 'open');
    session!.send('before');
    await waitFor(() => got.length === 1, 'first message');
    session!.disconnect();
    await waitFor(() => c.state === 'reconnecting', 'the drop noticed');
    session!.send('while away 1');
    session!.send('while away 2');
    const opens: boolean[] = [];
    c.on('open', (o) => opens.push(o.resumed));
    await waitFor(() => got.length === 3, 'replayed messages');
    expect(opens).toEqual([true]);
    expect(got).toEqual(['before', 'while away 1', 'while away 2']);
  });

  it('a server that goes silent without closing is noticed within interval + timeout', async () => {
    const s = await server({ heartbeatInterval: 200 });
    const c = client(s.url, { heartbeat: { timeout: 200 } });
    await waitFor(() => c.state === 'open', 'open');
    // A blackhole: the TCP connection stays up but nothing the server writes gets through.
    for (const sock of s.sockets) sock.write = (() => true) as typeof sock.write;
    const t0 = Date.now();
    const closes: number[] = [];
    c.on('close', (e) => closes.push(e.code));
    await waitFor(() => closes.length > 0, 'the dead connection noticed', 5000);
    expect(closes[0]).toBe(4408);
    // Last frame at most one interval before t0, so interval + timeout after it, plus timer slack.
    expect(Date.now() - t0).toBeLessThan(200 + 200 + 150);
    await waitFor(() => c.state === 'open', 'a fresh connection');
  });
});
