// @vitest-environment node
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { faultProxy, type FaultProxy } from './fault-proxy';
import { waitFor } from '../wait';

/**
 * The fault proxy on its own, against a tiny TCP echo server: every command does what it says.
 * Absence ("nothing arrived") can only be shown by waiting a little; those waits are short and
 * each comes after a positive control showing the path works.
 */

interface EchoSide {
  socket: Socket;
  /** Bytes the echo server received on this connection. */
  got: number;
  ended: boolean;
  closed: boolean;
}

/** Echoes every chunk back; a chunk containing `!end` is echoed and then the server ends its side. */
async function echoServer(): Promise<{ server: Server; port: number; sides: EchoSide[]; close(): Promise<void> }> {
  const sides: EchoSide[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const side: EchoSide = { socket, got: 0, ended: false, closed: false };
    sides.push(side);
    socket.on('error', () => {});
    socket.on('data', (b: Buffer) => {
      side.got += b.length;
      socket.write(b);
      if (b.includes('!end')) socket.end();
    });
    socket.on('end', () => (side.ended = true));
    socket.on('close', () => (side.closed = true));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    sides,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sides) s.socket.destroy();
        server.close(() => r());
      }),
  };
}

interface ClientSide {
  socket: Socket;
  chunks: Buffer[];
  /** Date.now() when each chunk arrived. */
  times: number[];
  ended: boolean;
  closed: boolean;
  text(): string;
  bytes(): number;
}

async function client(port: number): Promise<ClientSide> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const c: ClientSide = {
    socket,
    chunks: [],
    times: [],
    ended: false,
    closed: false,
    text: () => Buffer.concat(c.chunks).toString(),
    bytes: () => c.chunks.reduce((n, b) => n + b.length, 0),
  };
  socket.on('error', () => {});
  socket.on('data', (b: Buffer) => {
    c.chunks.push(b);
    c.times.push(Date.now());
  });
  socket.on('end', () => (c.ended = true));
  socket.on('close', () => (c.closed = true));
  await new Promise<void>((r, j) => {
    socket.once('connect', () => r());
    socket.once('error', j);
  });
  cleanup.push(() => socket.destroy());
  return c;
}

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function setup(): Promise<{ echo: Awaited<ReturnType<typeof echoServer>>; proxy: FaultProxy }> {
  const echo = await echoServer();
  cleanup.push(() => echo.close());
  const proxy = await faultProxy({ targetPort: echo.port });
  cleanup.push(() => proxy.close());
  return { echo, proxy };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fault proxy', () => {
  it('pipes both ways, listens on its own port, and counts connections and bytes', async () => {
    const { echo, proxy } = await setup();
    expect(proxy.port).toBeGreaterThan(0);
    expect(proxy.port).not.toBe(echo.port);
    expect(proxy.url()).toBe(`ws://127.0.0.1:${proxy.port}/realtime`);
    const a = await client(proxy.port);
    const b = await client(proxy.port);
    a.socket.write('hello');
    b.socket.write('world!');
    await waitFor(() => a.text() === 'hello' && b.text() === 'world!', { what: 'both echoes' });
    expect(proxy.stats).toMatchObject({ connections: 2, open: 2, bytesUp: 11, bytesDown: 11 });
    // An orderly close travels through: the client's FIN reaches the server, whose end comes back.
    a.socket.end('!end');
    await waitFor(() => a.closed && echo.sides[0]!.closed, { what: 'an orderly close on both sides' });
    expect(a.text()).toBe('hello!end');
    await waitFor(() => proxy.stats.open === 1, { what: 'the closed connection forgotten' });
  });

  it('cutAll() destroys every connection, both sides; new connections work', async () => {
    const { echo, proxy } = await setup();
    const a = await client(proxy.port);
    const b = await client(proxy.port);
    a.socket.write('x');
    b.socket.write('y');
    await waitFor(() => a.text() === 'x' && b.text() === 'y', { what: 'echoes' });
    proxy.cutAll();
    await waitFor(() => a.closed && b.closed, { what: 'both clients cut' });
    await waitFor(() => echo.sides.every((s) => s.closed), { what: 'both server sides cut' });
    expect(proxy.stats.cut).toBe(2);
    await waitFor(() => proxy.stats.open === 0, { what: 'no connection left' });
    const c = await client(proxy.port);
    c.socket.write('again');
    await waitFor(() => c.text() === 'again', { what: 'a new connection echoes' });
  });

  it('blackhole(): swallows both ways without closing, also new connections; off lets only new ones through', async () => {
    const { echo, proxy } = await setup();
    const old = await client(proxy.port);
    old.socket.write('before');
    await waitFor(() => old.text() === 'before', { what: 'echo before the blackhole' });
    // Server → client is swallowed too: the server speaks on its own.
    proxy.blackhole(true);
    old.socket.write('lost-up');
    echo.sides[0]!.socket.write('lost-down');
    const during = await client(proxy.port); // accepted...
    during.socket.write('lost-too');
    await waitFor(
      () =>
        proxy.stats.swallowedUp === 'lost-up'.length + 'lost-too'.length &&
        proxy.stats.swallowedDown === 'lost-down'.length,
      { what: 'the bytes swallowed' },
    );
    expect(echo.sides[0]!.got).toBe('before'.length);
    expect(old.text()).toBe('before');
    expect(during.text()).toBe('');
    // A FIN is swallowed too: the server never hears that the client left.
    old.socket.end();
    proxy.blackhole(false);
    const after = await client(proxy.port);
    after.socket.write('through');
    await waitFor(() => after.text() === 'through', { what: 'a connection made after the blackhole echoes' });
    during.socket.write('still-lost');
    await waitFor(() => proxy.stats.swallowedUp === 'lost-up'.length + 'lost-too'.length + 'still-lost'.length, {
      what: 'the swallowed connection stays swallowed',
    });
    await pause(50);
    expect(old.text()).toBe('before');
    expect(during.text()).toBe('');
    expect(echo.sides[0]!.got).toBe('before'.length);
    expect(echo.sides[0]!.ended).toBe(false);
    expect(echo.sides[0]!.closed).toBe(false);
    expect(during.closed).toBe(false);
    expect(proxy.stats.connections).toBe(3);
  });

  it('latency(ms): every chunk waits ms each way, and order is kept when the latency drops', async () => {
    const { proxy } = await setup();
    const c = await client(proxy.port);
    proxy.latency(100);
    let t0 = Date.now();
    c.socket.write('slow');
    await waitFor(() => c.text() === 'slow', { what: 'the delayed echo' });
    const rtt = Date.now() - t0;
    expect(rtt).toBeGreaterThanOrEqual(195); // 100 up + 100 down
    expect(rtt).toBeLessThan(1000);

    // Chunks sent at 300 ms latency, then at 0: the later ones may not overtake.
    proxy.latency(300);
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) {
      if (i === 10) proxy.latency(0);
      sent.push(`<${i}>`);
      c.socket.write(`<${i}>`);
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => c.text() === 'slow' + sent.join(''), { what: 'all 20 chunks, in order' });
    proxy.latency(0);
    t0 = Date.now();
    c.socket.write('fast');
    await waitFor(() => c.text().endsWith('fast'), { what: 'the echo without latency' });
    expect(Date.now() - t0).toBeLessThan(250); // well under the 600 ms round trip it had at 300 ms
  });

  it('throttle(bytesPerSecond): limits each direction; 0 turns it off', async () => {
    const { proxy } = await setup();
    const c = await client(proxy.port);
    const size = 16 * 1024;
    proxy.throttle(32 * 1024); // 0.5 s each way, pipelined
    let t0 = Date.now();
    c.socket.write(Buffer.alloc(size, 'a'));
    await waitFor(() => c.bytes() === size, { what: 'the throttled echo', timeout: 10_000 });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(400);
    expect(took).toBeLessThan(3000);
    // The bytes came spread out, not in one burst at the end.
    expect(c.times.at(-1)! - c.times[0]!).toBeGreaterThanOrEqual(300);
    proxy.throttle(0);
    t0 = Date.now();
    c.socket.write(Buffer.alloc(size, 'b'));
    await waitFor(() => c.bytes() === 2 * size, { what: 'the unthrottled echo' });
    expect(Date.now() - t0).toBeLessThan(400); // throttled, it took 1 s
  });

  it('throttle() also slows bytes already queued, and backpressure reaches the sender', async () => {
    const { proxy } = await setup();
    const c = await client(proxy.port);
    proxy.throttle(8 * 1024);
    // Far more than the proxy queues before it stops reading: the rest waits in the sender's socket.
    const big = 16 * 1024 * 1024;
    c.socket.write(Buffer.alloc(big, 'z'));
    await waitFor(() => c.bytes() > 0, { what: 'the first throttled bytes' });
    await pause(100);
    expect(c.socket.writableLength).toBeGreaterThan(0); // the kernel buffers filled; Node holds the rest
    proxy.throttle(0);
    await waitFor(() => c.bytes() === big, { what: 'everything once the throttle is off', timeout: 10_000 });
  });

  it('cutFrameInHalf(): the next server chunk arrives only up to its half, then the connection is destroyed', async () => {
    const { echo, proxy } = await setup();
    const c = await client(proxy.port);
    c.socket.write('warm-up');
    await waitFor(() => c.text() === 'warm-up', { what: 'echo' });
    proxy.cutFrameInHalf();
    c.socket.write('0123456789abcdefghij'); // echoed as one chunk
    await waitFor(() => c.closed || c.ended, { what: 'the connection cut' });
    expect(c.text()).toBe('warm-up0123456789');
    await waitFor(() => echo.sides[0]!.closed, { what: 'the server side destroyed too' });
    expect(proxy.stats.cut).toBe(1);
    // One chunk only: the next connection is not cut.
    const d = await client(proxy.port);
    d.socket.write('whole');
    await waitFor(() => d.text() === 'whole', { what: 'a whole echo' });
    await pause(20);
    expect(d.closed).toBe(false);
  });

  it('holdResponses(): connections opened while on get nothing until the server ends, then everything', async () => {
    const { echo, proxy } = await setup();
    const before = await client(proxy.port);
    proxy.holdResponses(true);
    const held = await client(proxy.port);
    held.socket.write('one;');
    held.socket.write('two;');
    await waitFor(() => echo.sides[1]?.got === 8, { what: 'the request reaches the server' });
    before.socket.write('free');
    await waitFor(() => before.text() === 'free', { what: 'a connection from before is not held' });
    proxy.holdResponses(false);
    const later = await client(proxy.port);
    later.socket.write('also-free');
    await waitFor(() => later.text() === 'also-free', { what: 'a connection from after is not held' });
    expect(held.text()).toBe('');
    held.socket.write('!end'); // the server echoes it, then ends: the proxy flushes and ends
    await waitFor(() => held.ended, { what: 'the held connection flushed and ended' });
    expect(held.text()).toBe('one;two;!end');
    expect(new Set(held.times).size).toBe(1); // in one go
  });

  it('close(): destroys every connection and stops listening', async () => {
    const { echo, proxy } = await setup();
    const c = await client(proxy.port);
    c.socket.write('x');
    await waitFor(() => c.text() === 'x', { what: 'echo' });
    await proxy.close();
    await waitFor(() => c.closed && echo.sides[0]!.closed, { what: 'both sides closed' });
    await expect(client(proxy.port)).rejects.toThrow(/ECONNREFUSED/);
  });
});
