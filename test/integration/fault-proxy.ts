import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy that injects network faults between a client and a server, for chaos tests.
 * It knows nothing of HTTP or WebSocket: it moves bytes, and misbehaves on command.
 *
 * Each accepted connection is piped to `127.0.0.1:targetPort` through two ordered queues, one per
 * direction. A chunk entering a queue gets a release time (now + latency, never earlier than the
 * chunk before it, so order is kept); a throttled queue also spaces its bytes at the set rate.
 * End-of-stream travels through the queue too, after the data before it.
 *
 * Commands (any time; they act on current connections, and on future ones where that makes sense):
 * - `cutAll()`: destroy every connection, both sides, swallowed ones included (a network drop:
 *   both peers see a reset).
 * - `blackhole(true)`: every current connection, and every one accepted while it is on, is
 *   swallowed: bytes both ways are read and thrown away, nothing is closed, and a close on one side
 *   is not passed to the other. As with a dead NAT, whose flow mappings are gone, these
 *   connections never carry data again: `blackhole(false)` only lets new connections through, and
 *   each peer must notice the silence on its own (a swallowed connection ends when its peers close it,
 *   or on `cutAll()` / `close()`). Bytes already queued behind latency or throttle are dropped too.
 * - `latency(ms)`: chunks received from now on are held `ms` before being forwarded (both ways).
 * - `throttle(bytesPerSecond)`: each connection, each direction, forwards at most this many bytes
 *   per second (0: unlimited). Applies to bytes still queued too. Like TCP, a queue over 64 KiB
 *   pauses reading from its sender, so backpressure reaches the sending application.
 * - `cutFrameInHalf()`: the next chunk from the server (on any forwarding connection) is forwarded
 *   only up to its first half, then that connection is destroyed on both sides.
 * - `holdResponses(on)`: connections accepted while on keep everything the server sends (after
 *   latency and throttle) until the server ends its side of that connection, then flush it and end
 *   (a buffering proxy, which holds whole responses, seen from TCP). Turning it off does not release
 *   connections already held.
 * - `close()`: destroy every connection and stop listening.
 */
export interface FaultProxy {
  readonly port: number;
  /** `ws://127.0.0.1:<port><path>`: where the client connects. */
  url(path?: string): string;
  cutAll(): void;
  blackhole(on: boolean): void;
  latency(ms: number): void;
  throttle(bytesPerSecond: number): void;
  cutFrameInHalf(): void;
  holdResponses(on: boolean): void;
  readonly stats: ProxyStats;
  close(): Promise<void>;
}

export interface ProxyStats {
  /** Connections accepted in all. */
  connections: number;
  /** Connections with at least one side still open. */
  open: number;
  /** Bytes written to the server (client → server) and to the client (server → client). */
  bytesUp: number;
  bytesDown: number;
  /** Bytes read and thrown away by the blackhole, each way. */
  swallowedUp: number;
  swallowedDown: number;
  /** Connections destroyed by cutAll() or cutFrameInHalf(). */
  cut: number;
}

/** Queued bytes above which a direction stops reading from its sender, and the level at which it resumes. */
const HIGH_WATER = 64 * 1024;
const LOW_WATER = 16 * 1024;
/** A throttled queue releases at most this many ms worth of bytes at a time. */
const THROTTLE_SLICE_MS = 20;

interface Shared {
  latency: number;
  throttle: number;
  stats: ProxyStats;
  /** Armed by cutFrameInHalf(); the first server chunk to arrive takes it. */
  cutNext: boolean;
}

type Item = { buf: Buffer; at: number; cutHalf: boolean } | { end: true; at: number };

/** One direction of one connection: from `src` to `dst`, in order, with latency and throttle. */
class Pipe {
  private queue: Item[] = [];
  private queued = 0;
  private lastAt = 0;
  /** Throttle: the earliest time the next byte may go. */
  private nextFree = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Reading from `src` is paused while our queue, or `dst`'s own buffer, is too full. */
  private queueFull = false;
  private dstFull = false;
  /** Held bytes (holdResponses), flushed when the server ends. */
  private held: Buffer[] | null;

  constructor(
    private readonly conn: Conn,
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly down: boolean,
    hold: boolean,
  ) {
    this.held = hold ? [] : null;
    src.on('data', (buf: Buffer) => this.push(buf));
    src.on('end', () => {
      // Through a dead NAT the peer's FIN is lost: let go of our side of the socket, tell nobody.
      if (this.conn.swallowed) src.destroy();
      else this.enqueue({ end: true, at: this.releaseTime() });
    });
    dst.on('drain', () => {
      this.dstFull = false;
      this.flow();
    });
  }

  private flow(): void {
    if (this.queueFull || this.dstFull) this.src.pause();
    else this.src.resume();
  }

  private get shared(): Shared {
    return this.conn.shared;
  }

  private releaseTime(): number {
    this.lastAt = Math.max(this.lastAt, Date.now() + this.shared.latency);
    return this.lastAt;
  }

  private push(buf: Buffer): void {
    const s = this.shared.stats;
    if (this.conn.swallowed) {
      if (this.down) s.swallowedDown += buf.length;
      else s.swallowedUp += buf.length;
      return;
    }
    let cutHalf = false;
    if (this.down && this.shared.cutNext) {
      this.shared.cutNext = false;
      cutHalf = true;
    }
    this.queued += buf.length;
    if (this.queued > HIGH_WATER && !this.queueFull) {
      this.queueFull = true;
      this.flow();
    }
    this.enqueue({ buf, at: this.releaseTime(), cutHalf });
  }

  private enqueue(item: Item): void {
    if (this.conn.swallowed || this.conn.dead) return;
    this.queue.push(item);
    this.pump();
  }

  /** The throttle changed: recompute waits. */
  kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.nextFree = 0;
    this.pump();
  }

  /** Drop everything queued (blackhole, cut). */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
    this.queued = 0;
    this.held = this.held && [];
    this.queueFull = this.dstFull = false;
    // A swallowing connection reads (and throws away) everything.
    if (!this.src.destroyed) this.flow();
  }

  private pump(): void {
    if (this.timer) return;
    while (this.queue.length && !this.conn.dead && !this.conn.swallowed) {
      const item = this.queue[0]!;
      const now = Date.now();
      const rate = this.shared.throttle;
      const due = Math.max(item.at, rate && 'buf' in item ? this.nextFree : 0);
      if (due > now) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.pump();
        }, due - now);
        return;
      }
      if ('end' in item) {
        this.queue.shift();
        this.finish();
        continue;
      }
      let out = item.buf;
      if (item.cutHalf) {
        this.shared.stats.cut++;
        const half = out.subarray(0, Math.floor(out.length / 2));
        this.conn.stop();
        if (this.held || !half.length) return this.conn.destroy();
        this.shared.stats.bytesDown += half.length;
        this.dst.write(half, () => this.conn.destroy());
        return;
      }
      if (rate) {
        const slice = Math.max(1, Math.floor((rate * THROTTLE_SLICE_MS) / 1000));
        if (out.length > slice) {
          item.buf = out.subarray(slice);
          out = out.subarray(0, slice);
        } else this.queue.shift();
        this.nextFree = Math.max(this.nextFree, now) + (out.length * 1000) / rate;
      } else this.queue.shift();
      this.queued -= out.length;
      this.write(out);
      if (this.queueFull && this.queued < LOW_WATER) {
        this.queueFull = false;
        this.flow();
      }
    }
  }

  private write(buf: Buffer): void {
    if (!buf.length) return;
    if (this.held) {
      this.held.push(buf);
      return;
    }
    if (this.down) this.shared.stats.bytesDown += buf.length;
    else this.shared.stats.bytesUp += buf.length;
    if (!this.dst.write(buf) && !this.dstFull) {
      this.dstFull = true;
      this.flow();
    }
  }

  /** The sender ended its side: flush what was held, then end ours. */
  private finish(): void {
    if (this.held) {
      const held = this.held;
      this.held = null;
      for (const b of held) this.write(b);
    }
    this.dst.end();
  }
}

class Conn {
  swallowed: boolean;
  dead = false;
  private readonly pipes: Pipe[];

  constructor(
    readonly shared: Shared,
    readonly client: Socket,
    readonly server: Socket,
    swallowed: boolean,
    hold: boolean,
    private readonly onGone: (c: Conn) => void,
  ) {
    this.swallowed = swallowed;
    for (const s of [client, server]) {
      s.setNoDelay(true);
      s.on('error', () => {});
    }
    this.pipes = [new Pipe(this, client, server, false, false), new Pipe(this, server, client, true, hold)];
    let closed = 0;
    const onClose = (side: Socket, other: Socket) => () => {
      // A reset on one side (closed without its FIN arriving): a live connection passes it on, a
      // swallowed one does not. (An orderly FIN travels through the pipe, after the data before it.)
      if (!this.swallowed && !side.readableEnded) reset(other);
      if (++closed === 2) this.gone();
    };
    client.on('close', onClose(client, server));
    server.on('close', onClose(server, client));
  }

  private goneOnce = false;
  private gone(): void {
    if (this.goneOnce) return;
    this.goneOnce = true;
    this.dead = true;
    for (const p of this.pipes) p.clear();
    this.onGone(this);
  }

  swallow(): void {
    if (this.swallowed) return;
    this.swallowed = true;
    for (const p of this.pipes) p.clear();
  }

  kick(): void {
    for (const p of this.pipes) p.kick();
  }

  /** Forward nothing more (the connection is about to be destroyed). */
  stop(): void {
    this.dead = true;
    for (const p of this.pipes) p.clear();
  }

  destroy(): void {
    this.stop();
    reset(this.client);
    reset(this.server);
  }
}

/**
 * Destroys the socket asking for a TCP RST rather than an orderly FIN, as a broken path shows itself.
 * (A peer that still has unread bytes, e.g. the half frame just forwarded, may read it as a plain end.)
 */
function reset(s: Socket): void {
  if (s.destroyed) return;
  if (typeof s.resetAndDestroy === 'function' && !s.connecting) s.resetAndDestroy();
  else s.destroy();
}

export async function faultProxy({
  targetPort,
  targetHost = '127.0.0.1',
}: {
  targetPort: number;
  targetHost?: string;
}): Promise<FaultProxy> {
  const stats: ProxyStats = {
    connections: 0,
    open: 0,
    bytesUp: 0,
    bytesDown: 0,
    swallowedUp: 0,
    swallowedDown: 0,
    cut: 0,
  };
  const shared: Shared = { latency: 0, throttle: 0, stats, cutNext: false };
  const conns = new Set<Conn>();
  let blackholed = false;
  let holding = false;

  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    stats.connections++;
    stats.open++;
    const upstream = connect({ port: targetPort, host: targetHost, allowHalfOpen: true });
    const c = new Conn(shared, client, upstream, blackholed, holding, (gone) => {
      stats.open--;
      conns.delete(gone);
    });
    conns.add(c);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    stats,
    url: (path = '/realtime') => `ws://127.0.0.1:${port}${path}`,
    cutAll() {
      for (const c of [...conns]) {
        stats.cut++;
        c.destroy();
      }
    },
    blackhole(on) {
      blackholed = on;
      if (on) for (const c of conns) c.swallow();
    },
    latency(ms) {
      shared.latency = Math.max(0, ms);
    },
    throttle(bytesPerSecond) {
      shared.throttle = Math.max(0, bytesPerSecond);
      for (const c of conns) c.kick();
    },
    cutFrameInHalf() {
      shared.cutNext = true;
    },
    holdResponses(on) {
      holding = on;
    },
    close() {
      for (const c of [...conns]) c.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
