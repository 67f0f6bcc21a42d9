import {
  ackIsUrgent,
  CloseCode,
  decodeFrame,
  duplicatesIn,
  FRAME_OVERHEAD,
  MIN_FRAME_LIMIT,
  packFrames,
  PROTOCOL_VERSION,
  truncateReason,
  type WelcomeFrame,
} from '../protocol';
import type { Endpoint, EndpointHost, EndpointOptions, Protocol, SessionSnapshot } from './endpoint';
import { RealtimeError } from './errors';
import type { Connection } from './transports/types';

/**
 * The longest ping interval (welcome's `hb`) the watchdog believes, in ms. A server announcing
 * more, or 2^53, would leave a dead connection unnoticed that long; real ones ping every 15-60 s
 * because proxies cut idle connections after about a minute.
 */
const MAX_HB = 5 * 60_000;

/**
 * Protocol v1 (docs/protocol.md), the client's side of a session: hello and welcome, sequence
 * numbers, cumulative acks piggybacked on traffic, resume, dedupe of what the server replays.
 */
class Session implements Endpoint {
  readonly resumable = true;
  readonly context = {};
  #session: { sid: string; key: string } | null = null;
  /** Highest server seq received without a gap, and the highest told to the server. */
  #received = 0;
  #acked = 0;
  /** Largest frame the server accepts, from its welcome. */
  #serverMax = Infinity;
  /**
   * The control frame this connection owes the server, written once its buffer is empty: one pong
   * answers every ping that came meanwhile, and like an ack it carries the newest `a`.
   */
  #owed: 'ack' | 'pong' | undefined;
  #ackTimer: unknown;

  constructor(
    private readonly host: EndpointHost,
    private readonly options: EndpointOptions,
  ) {}

  serialize(data: unknown): string | undefined {
    return JSON.stringify(data);
  }

  tooLarge(bytes: number): string | undefined {
    if (bytes + FRAME_OVERHEAD > this.#serverMax)
      return `Message of ${bytes} B; the server takes ${this.#serverMax} B: split it`;
  }

  credentials(): Promise<string | undefined> | undefined {
    const auth = this.options.auth;
    return auth && (async () => (await auth()) ?? undefined)();
  }

  connected(conn: Connection, token: string | undefined): void {
    const hello = {
      t: 'hello',
      v: [PROTOCOL_VERSION],
      ...this.#session,
      a: this.#ackable(),
      max: this.options.maxFrame,
      token,
    };
    conn.send(JSON.stringify(hello));
  }

  frame(text: string): void {
    const f = decodeFrame(text);
    if (typeof f === 'string') return this.protocolError(f);
    if (this.host.state !== 'open' && f.t !== 'welcome' && f.t !== 'close')
      return this.protocolError(`${f.t} before welcome`);
    // Only msg, ack, ping and pong carry an ack, validated by decodeFrame; an `a` on any other
    // frame is an unknown field (§2: ignored), and may hold anything, such as an array 4,000 deep.
    if (f.t !== 'close' && f.t !== 'welcome' && f.t !== 'hello' && f.a !== undefined) {
      // Acking what was never sent would resolve, and drop, messages still waiting to go.
      if (f.a > this.host.outbox.sent) return this.protocolError(`ack ${f.a} of unsent messages`);
      this.host.outbox.ack(f.a);
    }
    switch (f.t) {
      case 'welcome':
        return this.#welcome(f);
      case 'msg': {
        const skip = duplicatesIn(this.#received, f.s, f.d.length);
        if (skip < 0) return this.protocolError(`seq ${f.s} after ${this.#received}`);
        this.#received = f.s + f.d.length - 1;
        for (let i = skip; i < f.d.length; i++) this.host.deliver(f.d[i], f.s + i);
        return this.#scheduleAck();
      }
      case 'ping':
        this.#owed = 'pong';
        return this.host.flushSoon();
      case 'close':
        return this.host.closed(f.code, truncateReason(f.reason));
      case 'hello':
      case 'pong':
        return this.protocolError(f.t);
    }
  }

  #welcome(f: WelcomeFrame): void {
    if (this.host.state === 'open') return this.protocolError('second welcome');
    if (f.v !== PROTOCOL_VERSION) return this.protocolError(`version ${f.v}`);
    if (f.max < MIN_FRAME_LIMIT) return this.protocolError(`welcome max ${f.max} < ${MIN_FRAME_LIMIT}`);
    this.#serverMax = f.max;
    const askedResume = this.#session?.sid;
    this.#session = { sid: f.sid, key: f.key };
    const outbox = this.host.outbox;
    if (!f.resumed) {
      this.#received = this.#acked = 0;
      const lost = outbox.restart();
      if (askedResume) {
        const why = 'Session lost (expired or overran): messages may be missing; reload state';
        this.host.error(new RealtimeError('session-lost', why));
        for (const p of lost)
          p.reject(
            new RealtimeError('session-lost', `${why}. This one may not have arrived: resend it if idempotent`, {
              data: p.data,
            }),
          );
      }
    } else outbox.rewind(f.a);
    this.host.opened(Math.min(f.hb, MAX_HB) + this.options.timeout, f.resumed);
  }

  protocolError(what: string): void {
    this.host.refuse(
      'protocol-error',
      `Server broke the protocol (${what}); reconnecting. Not a v1 server? Use protocol: 'plain'`,
      CloseCode.PROTOCOL_ERROR,
    );
  }

  flush(conn: Connection): boolean {
    const outbox = this.host.outbox;
    const items = outbox.unsent();
    const a = this.#ackable();
    for (const frame of packFrames(items, this.#serverMax, a)) {
      conn.send(frame.text);
      outbox.sent = frame.last;
    }
    if (items.length) this.#acked = a;
    // A msg frame carried the ack owed, or it waits for its save (ackReleased() owes it again); a
    // pong stays owed, as the answer to a ping.
    if (this.#owed === 'ack' && a <= this.#acked) this.#owed = undefined;
    if (!this.#owed) return false;
    // Only into an empty buffer: frames leave in order, so one written behind a backlog would
    // arrive no sooner, and held back here it stays one frame with the newest ack, however many
    // pings a server that does not read sends meanwhile.
    if (conn.buffered) return true;
    conn.send(`{"t":"${this.#owed}","a":${a}}`);
    this.#owed = undefined;
    this.#acked = a;
    return false;
  }

  #ackable(): number {
    return Math.min(this.#received, this.host.ackable(this.#received));
  }

  #scheduleAck(): void {
    if (ackIsUrgent(this.#received, this.#acked)) return this.#oweAck();
    this.#ackTimer ??= this.host.env.setTimeout(() => this.#oweAck(), this.options.ackDelay);
  }

  #oweAck(): void {
    this.host.env.clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#owed ??= 'ack'; // a pong owed carries it already
    this.host.flushSoon();
  }

  ackReleased(): void {
    if (this.#ackTimer === undefined && this.#received > this.#acked) this.#oweAck();
  }

  disconnected(): void {
    this.host.env.clearTimeout(this.#ackTimer);
    this.#ackTimer = this.#owed = undefined; // the next hello carries the ack
  }

  reset(): void {
    this.#session = null;
    this.#received = this.#acked = 0;
  }

  snapshot(): SessionSnapshot {
    return { ...this.#session, a: this.#received };
  }

  restore(s: SessionSnapshot): void {
    if (s.sid) this.#session = { sid: s.sid, key: s.key! };
    this.#received = this.#acked = s.a;
  }
}

/** Protocol v1, the default: our server or any server written from docs/protocol.md. */
export const v1: Protocol = {
  name: 'v1',
  create: (host, options) => new Session(host, options),
};
