/**
 * The server's heartbeat on one connection (docs/protocol.md §10): a ping when it has sent
 * nothing for `hb`, and the connection dropped when it is dead either way: nothing received for
 * 2 × hb, or output waiting on a backlog that has not shrunk for 2 × hb.
 */

/** Output waiting on the connection's backlog: since when the backlog has not shrunk, and its size then. */
export interface Stall {
  since: number;
  buffered: number;
}

/** What the heartbeat knows of its connection at a given moment. */
export interface Pulse {
  now: number;
  /** Date.now() of the last frame written, and of the last frame (or HTTP request) received. */
  lastSent: number;
  lastReceived: number;
  stall: Stall | null;
  /** The connection's backlog now, in bytes. */
  buffered: number;
}

export type Beat = { do: 'drop'; reason: string } | { do: 'ping' | 'wait'; stall: Stall | null };

/**
 * Pure policy: what to do at `p.now` with ping interval `hb`. A stall whose backlog shrank is
 * progress, so it starts again from now: a slow reader is not a dead one.
 */
export function beat(p: Pulse, hb: number): Beat {
  if (p.now - p.lastReceived >= 2 * hb) return { do: 'drop', reason: 'heartbeat timeout' };
  let stall = p.stall;
  if (stall && p.buffered < stall.buffered) stall = { since: p.now, buffered: p.buffered };
  // As dead for what we send as a silent peer is for what it sends.
  else if (stall && p.now - stall.since >= 2 * hb)
    return { do: 'drop', reason: `not reading: its backlog did not shrink for ${2 * hb} ms` };
  return { do: p.now - p.lastSent >= hb ? 'ping' : 'wait', stall };
}

/** What the heartbeat acts on. */
export interface Beating {
  /** The connection's backlog, in bytes. */
  readonly bufferedAmount: number;
  /** Date.now() of the last frame (or HTTP request) received. */
  readonly lastReceived: number;
  ping(): void;
  /** The connection is dead: close it (4408), keeping the session. */
  drop(reason: string): void;
}

/** One timer per connection, re-armed for the next moment anything can be due. */
export class Heartbeat {
  #lastSent = Date.now();
  #stall: Stall | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly hb: number,
    private readonly conn: Beating,
  ) {}

  start(): void {
    this.#arm();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** A frame went out. */
  sent(): void {
    this.#lastSent = Date.now();
  }

  /** Output could be written: whatever stall there was is over. */
  progressed(): void {
    this.#stall = null;
  }

  /** Output waits for the backlog to drain (the first call of a stall starts its clock). */
  waiting(): void {
    this.#stall ??= { since: Date.now(), buffered: this.conn.bufferedAmount };
  }

  #arm(): void {
    const due = Math.min(this.#lastSent + this.hb, this.conn.lastReceived + 2 * this.hb);
    this.#timer = setTimeout(() => this.#beat(), Math.max(0, due - Date.now()) + 1);
    this.#timer.unref?.();
  }

  #beat(): void {
    this.#timer = null;
    const b = beat(
      {
        now: Date.now(),
        lastSent: this.#lastSent,
        lastReceived: this.conn.lastReceived,
        stall: this.#stall,
        buffered: this.conn.bufferedAmount,
      },
      this.hb,
    );
    if (b.do === 'drop') return this.conn.drop(b.reason);
    this.#stall = b.stall;
    if (b.do === 'ping') this.conn.ping();
    this.#arm();
  }
}
