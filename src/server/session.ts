import { EventEmitter } from 'node:events';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { CloseCode, encodeMessages, utf8Length, type Frame } from '../protocol';
import type { StoredSession } from './store';
import type { Link } from './link';
import { ackIsUrgent, duplicatesIn } from '../acks';
import type { ResolvedOptions } from './options';
import { replayCost, ReplayBuffer, type ReplayBudget } from './replay';
import { faults } from './faults';

/** What a Session needs from the server that owns it. */
export interface SessionHost {
  readonly options: ResolvedOptions;
  /** Replay memory of every session together (`maxTotalReplayBytes`). */
  readonly replayBudget: ReplayBudget;
  /** Before a message of this replay cost is buffered: end sessions, largest first, until it fits the budget. */
  makeRoomForReplay(cost: number): void;
  onSessionEnd(session: Session): void;
  reportError(error: unknown, context: string): void;
}

export interface SessionEvents {
  /**
   * One application message from the client, in order, once per server process. `seq` numbers
   * the session's client messages from 1. With a session store, a process killed between
   * delivering a message and saving it delivers it again after the restart, with the same `seq`:
   * a consumer whose effects must happen once keeps the highest `seq` it applied, with them.
   */
  message: [data: unknown, seq: number];
  /** The session ended for good (closed by either side, expired, overrun, or server shutdown). */
  close: [code: number, reason: string];
  /** The connection dropped; the session waits `sessionTtl` ms for the client to resume it. */
  disconnect: [];
  /** The client resumed this session on a new connection. */
  resume: [];
}

/** Largest possible msg-frame envelope: `{"t":"msg","s":<seq>,"d":[],"a":<ack>}` with 16-digit numbers. */
export const FRAME_OVERHEAD = encodeMessages(Number.MAX_SAFE_INTEGER, [], Number.MAX_SAFE_INTEGER).length;

/** Acks are saved to the session store lazily, at most this often (a stale buffer only causes replays the client drops). */
const ACK_SAVE_DELAY_MS = 100;

/** Retry delay while the transport has a backlog. */
const BACKLOG_RETRY_MS = 5;

/**
 * A control frame (pong, standalone ack) waits while more than this is queued on the connection.
 * They answer what the client sends, so writing them into a backlog would let a client that sends
 * pings and never reads grow our memory with its upload; waiting, they coalesce into one.
 */
export const CONTROL_BACKLOG_BYTES = 4096;

const newSecret = (): string => randomBytes(18).toString('base64url'); // 144 bits, 24 chars

/** Whether a WebSocket endpoint may send `code` in a close frame (RFC 6455 §7.4; 1004-1006 and 1015 are reserved). */
function sendableCloseCode(code: number): boolean {
  return Number.isInteger(code) && ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999));
}

/** Serialises application data once, with a clear error for what JSON cannot carry. */
export function serialise(data: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (err) {
    throw new TypeError(`realtime: message is not JSON-serialisable: ${(err as Error).message}`);
  }
  if (json === undefined) throw new TypeError(`realtime: message is not JSON-serialisable (got ${typeof data})`);
  return json;
}

/**
 * The protocol state of one client, independent of the connection carrying it:
 * sequence numbers both ways, the replay buffer, acks, heartbeat. A session is attached to at
 * most one {@link Link} at a time and survives `sessionTtl` ms without one.
 *
 * Created by {@link RealtimeServer}; applications receive it from the `'connection'` event.
 */
export class Session extends EventEmitter<SessionEvents> {
  /** Public session id (`sid`). */
  readonly id: string;
  /** Client address, as used for `maxSessionsPerIp`. */
  readonly remoteAddress: string;
  /** Whatever `authenticate` returned for the latest connection (`true` without the hook). */
  auth: unknown = true;

  /** The secret resume key: an ES private field, so logging or serialising a session never shows it. */
  readonly #key: string;
  readonly #keyBytes: Buffer;
  private link: Link | null = null;
  /** Largest frame the client takes, from its latest hello (kept while disconnected, for send()). */
  private clientMax = Infinity;
  private ended = false;
  private overrun = false;

  // Server -> client.
  /** Highest sequence number assigned by send(). */
  private outSeq = 0;
  /** Highest sequence number written to the current link. */
  private written = 0;
  /** Highest sequence number ever written, to any link (restored sessions: every saved one may have been). */
  private maxWritten = 0;
  /** Highest sequence number the client acknowledged. */
  private peerAcked = 0;
  /** Every message with seq > peerAcked, in order. */
  private readonly replay: ReplayBuffer;

  // Client -> server.
  /** Highest contiguous client sequence number received (delivered to the app, or being delivered). */
  private inSeq = 0;
  /** The last `a` we sent to the client. */
  private ackSent = 0;
  /**
   * The control frame the client is owed, written by the next flush the connection has room for:
   * any number of pings get one pong, and a pong carries the ack too.
   */
  private owed: 'nothing' | 'ack' | 'pong' = 'nothing';

  private lastSent = 0;
  /**
   * While output waits for the connection's backlog: since when the backlog has not shrunk, and
   * how large it was then. A peer that sends (so it is never silent) but never reads would
   * otherwise hold the session, and a 5 ms retry timer, for as long as it likes.
   */
  private stall: { since: number; buffered: number } | null = null;
  private flushQueued = false;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setTimeout> | null = null;
  private ttlTimer: ReturnType<typeof setTimeout> | null = null;

  // Session store (options.sessionStore).
  /** Highest server seq known to be saved (every message written to a link is). */
  private savedOut = 0;
  /** Date.now() at which the session expires while disconnected. */
  private expiresAt: number | undefined;
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  private savePending = false;

  /** @internal `stored`: restore a session saved by an earlier server process, disconnected. */
  constructor(
    private readonly host: SessionHost,
    remoteAddress: string,
    stored?: StoredSession,
  ) {
    super();
    this.remoteAddress = remoteAddress;
    this.id = stored ? stored.sid : newSecret();
    this.#key = stored ? stored.key : newSecret();
    this.#keyBytes = Buffer.from(this.#key);
    this.replay = new ReplayBuffer(host.replayBudget);
    if (stored) {
      this.inSeq = this.ackSent = stored.received;
      this.outSeq = this.savedOut = this.maxWritten = stored.nextSeq - 1;
      // Counted in the budget but not evicted for: the previous process held them within its bounds.
      for (const [seq, json] of stored.replay) this.replay.push({ seq, json, bytes: utf8Length(json) });
      this.peerAcked = (this.replay.firstSeq ?? this.outSeq + 1) - 1;
      this.startTtl();
    }
  }

  /** True while a connection is attached. */
  get connected(): boolean {
    return this.link !== null;
  }

  /** True once the session has ended; send() then does nothing. */
  get closed(): boolean {
    return this.ended;
  }

  /** Messages sent but not yet acknowledged by the client. */
  get unacknowledged(): number {
    return this.replay.size;
  }

  /** @internal What this session's unacknowledged messages count against `maxTotalReplayBytes`. */
  get replayCost(): number {
    return this.replay.cost;
  }

  /**
   * Queue one message (any JSON value) for the client. Calls in the same tick, or while the
   * connection is backlogged, go out together as one frame. Works while disconnected: messages
   * wait in the replay buffer for a resume. Returns false if the session has ended.
   * @throws TypeError if `data` is not JSON-serialisable; RangeError if it cannot fit in a frame
   * (of `maxMessageBytes`, or of the smaller `max` the client announced in its latest hello).
   */
  send(data: unknown): boolean {
    const json = serialise(data);
    if (this.ended) return false;
    this.enqueue(json, utf8Length(json));
    return !this.ended; // a replay overrun may have ended the session just now
  }

  /** End the session for good: close frame with `code`, then the connection closes. The client will not resume. */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (!(code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999))) {
      throw new RangeError(`session.close: code must be 1000 or 3000-4999, got ${code}`);
    }
    this.end(code, String(reason));
  }

  /**
   * Drop the current connection abruptly (as a network failure would) but keep the session
   * resumable. For tests and demos.
   */
  disconnect(): void {
    const link = this.link;
    if (!link) return;
    link.terminate();
    this.detach(link);
  }

  // ---- internals used by the server and links -------------------------------------------

  /** @internal */
  matchesKey(key: string): boolean {
    const given = Buffer.from(key);
    return given.length === this.#keyBytes.length && timingSafeEqual(given, this.#keyBytes);
  }

  /**
   * @internal Whether a hello with this `a` can resume without loss: the session must be intact
   * and every message after `a` still buffered; `a` cannot exceed the highest seq ever sent.
   */
  canResume(clientAck: number): boolean {
    return !this.ended && !this.overrun && clientAck >= this.peerAcked && clientAck <= this.maxWritten;
  }

  /** Largest frame this session's client may be sent: the server's limit or the client's, whichever is smaller. */
  private get frameMax(): number {
    return Math.min(this.host.options.maxMessageBytes, this.clientMax);
  }

  /** @internal Why a message of `bytes` cannot be sent to a client taking frames of `clientMax` bytes, or undefined if it can. */
  tooLarge(bytes: number, clientMax = this.clientMax): string | undefined {
    const max = this.host.options.maxMessageBytes;
    if (bytes + FRAME_OVERHEAD <= Math.min(max, clientMax)) return;
    return `message of ${bytes} bytes cannot fit in a frame (maxMessageBytes ${max}${clientMax < Infinity ? `, the client's max ${clientMax}` : ''})`;
  }

  /**
   * @internal Why the client cannot resume announcing `clientMax`: a message it has not received
   * (seq > `clientAck`) is too large for it. Undefined when every one fits.
   */
  cannotTake(clientAck: number, clientMax = Infinity): string | undefined {
    for (let seq = Math.max(clientAck + 1, this.replay.firstSeq ?? Infinity); seq <= this.outSeq; seq++) {
      const why = this.tooLarge(this.replay.get(seq)!.bytes, clientMax);
      if (why) return `unsent ${why}`;
    }
  }

  /**
   * @internal Attach a link and send welcome. `clientAck` is hello.a when resuming; `clientMax`
   * is hello.max. False if the session could not be saved: the link was closed with 4500 and
   * nothing changed.
   */
  attach(link: Link, version: number, resumed: boolean, clientAck: number, clientMax = Infinity): boolean {
    // Save first (connected again: no expiry). welcome.a = inSeq acknowledges every message
    // delivered so far, which only a successful save may do: a failed save after a delivery
    // left inSeq ahead of the store.
    const expiresAt = this.expiresAt;
    this.expiresAt = undefined;
    if (!this.persist()) {
      this.expiresAt = expiresAt;
      link.close(CloseCode.SERVER_ERROR, 'session store unavailable');
      return false;
    }
    const old = this.link;
    if (old) {
      // The client reconnected before we noticed the old connection died: retire it quietly.
      this.unlink();
      old.close(CloseCode.NORMAL, 'replaced', false);
    }
    if (this.ttlTimer) clearTimeout(this.ttlTimer);
    this.ttlTimer = null;

    this.link = link;
    this.clientMax = clientMax;
    link.opened(this);
    if (resumed) this.acknowledged(clientAck);
    this.written = resumed ? clientAck + (faults.replayPastAck ? 1 : 0) : 0;
    const o = this.host.options;
    link.sendText(
      JSON.stringify({
        t: 'welcome',
        v: version,
        sid: this.id,
        key: this.#key,
        resumed,
        a: this.inSeq,
        hb: o.heartbeatInterval,
        max: o.maxMessageBytes,
        transports: o.transports,
      }),
    );
    this.sent();
    this.armHeartbeat();
    this.scheduleFlush(); // retransmits everything after clientAck
    return true;
  }

  /** @internal The link is gone; keep the session for a resume unless it can no longer resume. */
  detach(link: Link): void {
    if (this.link !== link || this.ended) return;
    this.unlink();
    if (this.overrun) return this.end(CloseCode.ABNORMAL, 'replay buffer overrun');
    this.startTtl();
    this.persist(); // records expiresAt
    this.safeEmit('disconnect');
  }

  private startTtl(): void {
    const ttl = this.host.options.sessionTtl;
    this.expiresAt = Date.now() + ttl;
    this.ttlTimer = setTimeout(() => this.end(CloseCode.ABNORMAL, 'session expired'), ttl);
    this.ttlTimer.unref?.();
  }

  /** @internal End for good. Closes the current link, if any, with `code`. */
  end(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    const link = this.link;
    this.unlink();
    if (this.ttlTimer) clearTimeout(this.ttlTimer);
    this.ttlTimer = null;
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    link?.close(code, reason);
    this.replay.clear();
    this.host.onSessionEnd(this);
    this.safeEmit('close', code, reason);
  }

  /** @internal Queue an already-serialised message (broadcast serialises once for all sessions). */
  enqueue(json: string, bytes: number): void {
    const why = this.tooLarge(bytes);
    if (why) throw new RangeError(`realtime: ${why}`);
    this.host.makeRoomForReplay(replayCost(bytes));
    if (this.ended) return; // this session held the most, and made room
    const seq = ++this.outSeq;
    this.replay.push({ seq, json, bytes });
    this.enforceReplayBounds();
    if (this.link) this.scheduleFlush();
    else this.persistSoon(); // no flush while disconnected: save this tick's messages together
  }

  /** @internal One decoded frame from the attached link. */
  handleFrame(frame: Frame, link: Link): void {
    if (link !== this.link) return;
    switch (frame.t) {
      case 'msg': {
        if (frame.a !== undefined && !this.checkAck(frame.a, link)) return;
        // Leading duplicates were already received (retransmitted after a resume); -1 is a gap.
        const skip = faults.noDedupe && frame.s <= this.inSeq + 1 ? 0 : duplicatesIn(this.inSeq, frame.s, frame.d.length);
        if (skip < 0) return link.fail(CloseCode.PROTOCOL_ERROR, `sequence gap: expected at most ${this.inSeq + 1}, got ${frame.s}`);
        if (skip === frame.d.length) return;
        // Deliver, then save, then ack. A crash before the save makes the client send these again
        // and the next process deliver them again with the same seq (the app can tell); saving
        // first would instead let a crash lose messages the client was told had arrived.
        for (let i = skip; i < frame.d.length && !this.ended; i++) {
          this.inSeq = frame.s + i;
          this.safeEmit('message', frame.d[i], this.inSeq);
        }
        if (this.ended) return;
        if (faults.ackAhead) this.inSeq++;
        if (!this.persist()) return link.fail(CloseCode.SERVER_ERROR, 'session store unavailable');
        // Only now may an ack (standalone, or `a` on any frame) cover these messages.
        this.received();
        return;
      }
      case 'ack':
        this.checkAck(frame.a, link);
        return;
      case 'ping':
        if (frame.a !== undefined && !this.checkAck(frame.a, link)) return;
        return this.owe('pong');
      case 'pong':
        if (frame.a !== undefined) this.checkAck(frame.a, link);
        return;
      case 'close':
        // The client is leaving: with 1000 for good; with any other code it may come back to resume.
        if (frame.code === CloseCode.NORMAL) {
          link.close(CloseCode.NORMAL, 'bye', false); // end() then finds the link closed: no second close
          this.end(frame.code, frame.reason);
        } else {
          // Not 1000, which would say "session over" (§11): answer with the client's own code.
          link.close(sendableCloseCode(frame.code) ? frame.code : CloseCode.GOING_AWAY, 'bye', false);
          this.detach(link);
        }
        return;
      case 'hello':
        return link.fail(CloseCode.PROTOCOL_ERROR, 'duplicate hello');
      case 'welcome':
        return link.fail(CloseCode.PROTOCOL_ERROR, 'welcome is a server frame');
    }
  }

  // ---- acks ------------------------------------------------------------------------------

  /** Validate and apply a cumulative ack from the client. */
  private checkAck(a: number, link: Link): boolean {
    if (a > this.written) {
      link.fail(CloseCode.PROTOCOL_ERROR, `ack ${a} is beyond the last message sent (${this.written})`);
      return false;
    }
    this.acknowledged(a);
    return true;
  }

  /** Drop acknowledged messages from the replay buffer. */
  private acknowledged(a: number): void {
    if (a <= this.peerAcked) return;
    this.peerAcked = a;
    this.replay.acknowledge(a);
    this.scheduleSave();
  }

  /** New client messages arrived: ack them soon, or now if many are waiting. */
  private received(): void {
    if (ackIsUrgent(this.inSeq, this.ackSent)) return this.owe('ack');
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      if (this.inSeq > this.ackSent) this.owe('ack');
    }, this.host.options.ackDelay);
    this.ackTimer.unref?.();
  }

  /** The client is owed a control frame; a pong also does an ack's job. */
  private owe(frame: 'ack' | 'pong'): void {
    if (frame === 'pong' || this.owed === 'nothing') this.owed = frame;
    this.scheduleFlush();
  }

  /** Something went out carrying `a` = inSeq: an owed ack is paid. */
  private sent(): void {
    this.lastSent = Date.now();
    this.ackSent = this.inSeq;
    if (this.owed === 'ack') this.owed = 'nothing';
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
  }

  // ---- outgoing --------------------------------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushQueued || this.flushTimer || !this.link) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  /**
   * Write every message after `written`, as few frames as `max` allows, then the control frame
   * owed, if any; wait while backlogged.
   */
  private flush(): void {
    const link = this.link;
    if (!link || this.ended) return;
    const { backpressureThreshold } = this.host.options;
    const max = this.frameMax;
    // Every message must be in the store before any of it reaches the wire: one save per flush.
    if (this.written < this.outSeq && this.savedOut < this.outSeq && !this.persist()) {
      return link.fail(CloseCode.SERVER_ERROR, 'session store unavailable');
    }
    while (this.written < this.outSeq) {
      // Let the backlog drain; meanwhile new messages pile up and leave as one frame.
      if (link.bufferedAmount > backpressureThreshold) return this.flushLater();
      const s = this.written + 1;
      const a = this.inSeq;
      let size = encodeMessages(s, [], a).length;
      const parts: string[] = [];
      // Invariant: every seq in (written, outSeq] is buffered.
      for (let seq = s; seq <= this.outSeq; seq++) {
        const e = this.replay.get(seq)!;
        const add = e.bytes + (parts.length > 0 ? 1 : 0);
        if (parts.length > 0 && size + add > max) break;
        parts.push(e.json);
        size += add;
      }
      const last = s + parts.length - 1;
      link.sendText(encodeMessages(s, parts, a), last);
      this.stall = null;
      this.written = last;
      if (last > this.maxWritten) this.maxWritten = last;
      this.sent();
      if (this.link !== link) return; // a send error may have detached us
    }
    if (this.owed !== 'nothing') {
      if (link.bufferedAmount > CONTROL_BACKLOG_BYTES) return this.flushLater();
      // ack and pong frames have the same shape.
      link.sendText(`{"t":"${this.owed}","a":${this.inSeq}}`);
      this.owed = 'nothing';
      this.sent();
    }
    this.stall = null;
  }

  private flushLater(): void {
    this.stall ??= { since: Date.now(), buffered: this.link!.bufferedAmount };
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush();
    }, BACKLOG_RETRY_MS);
    this.flushTimer.unref?.();
  }

  /** Keep the replay buffer within bounds by dropping the oldest messages; the session then cannot resume. */
  private enforceReplayBounds(): void {
    const { maxMessages, maxBytes } = this.host.options.replay;
    const replay = this.replay;
    let lostUnwritten = false;
    let dropped = false;
    while (replay.size > maxMessages || replay.bytes > maxBytes) {
      if (replay.dropOldest().seq > this.written) lostUnwritten = true;
      dropped = true;
    }
    if (!dropped) return;
    this.overrun = true;
    // Without a connection the session can never resume now; with one, losing a message that
    // was never written would leave a gap on a live connection. Either way: end it. (A session
    // that only lost messages already written lives on until its connection drops.)
    if (!this.link) this.end(CloseCode.ABNORMAL, 'replay buffer overrun');
    else if (lostUnwritten) this.end(CloseCode.SERVER_ERROR, 'replay buffer overrun: client too slow');
  }

  // ---- session store ---------------------------------------------------------------------

  /** @internal What the session store keeps. `received` is the highest client seq delivered. */
  snapshot(): StoredSession {
    const s: StoredSession = { sid: this.id, key: this.#key, remoteAddress: this.remoteAddress, received: this.inSeq, nextSeq: this.outSeq + 1, replay: this.replay.pairs() };
    if (this.expiresAt !== undefined) s.expiresAt = this.expiresAt;
    return s;
  }

  /** Save to the session store now (no-op without one). False if the save failed (reported). */
  private persist(): boolean {
    const store = this.host.options.sessionStore;
    if (!store || this.ended) {
      this.savedOut = this.outSeq;
      return true;
    }
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    const out = this.outSeq;
    try {
      store.save(this.snapshot());
    } catch (err) {
      this.host.reportError(err, 'sessionStore.save');
      return false;
    }
    this.savedOut = out;
    return true;
  }

  /** Save at the end of this tick (messages queued while disconnected). */
  private persistSoon(): void {
    if (!this.host.options.sessionStore || this.savePending || this.ended) return;
    this.savePending = true;
    queueMicrotask(() => {
      this.savePending = false;
      if (this.savedOut < this.outSeq) this.persist();
    });
  }

  /** Save soon (acks: pruning the stored buffer is not urgent). */
  private scheduleSave(): void {
    if (!this.host.options.sessionStore || this.saveTimer || this.ended) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.persist();
    }, ACK_SAVE_DELAY_MS);
    this.saveTimer.unref?.();
  }

  // ---- heartbeat -------------------------------------------------------------------------

  private armHeartbeat(): void {
    const link = this.link;
    if (!link) return;
    const hb = this.host.options.heartbeatInterval;
    const due = Math.min(this.lastSent + hb, link.lastReceived + 2 * hb);
    this.heartbeatTimer = setTimeout(() => this.heartbeat(), Math.max(0, due - Date.now()) + 1);
    this.heartbeatTimer.unref?.();
  }

  private heartbeat(): void {
    this.heartbeatTimer = null;
    const link = this.link;
    if (!link) return;
    const hb = this.host.options.heartbeatInterval;
    const now = Date.now();
    if (now - link.lastReceived >= 2 * hb) {
      // Dead connection; the session stays resumable.
      link.close(CloseCode.TIMEOUT, 'heartbeat timeout');
      return this.detach(link);
    }
    const stall = this.stall;
    if (stall && link.bufferedAmount < stall.buffered) this.stall = { since: now, buffered: link.bufferedAmount };
    else if (stall && now - stall.since >= 2 * hb) {
      // As dead for what we send as a silent one is for what it sends.
      link.close(CloseCode.TIMEOUT, `not reading: its backlog did not shrink for ${2 * hb} ms`);
      return this.detach(link);
    }
    if (now - this.lastSent >= hb) {
      link.sendText(`{"t":"ping","a":${this.inSeq}}`);
      this.sent();
    }
    this.armHeartbeat();
  }

  /** Forget the current link and every timer tied to it. */
  private unlink(): void {
    this.link = null;
    this.flushQueued = false;
    this.owed = 'nothing'; // a pong answers this connection's pings; the next welcome carries the ack
    this.stall = null;
    for (const t of [this.flushTimer, this.ackTimer, this.heartbeatTimer]) if (t) clearTimeout(t);
    this.flushTimer = this.ackTimer = this.heartbeatTimer = null;
  }

  private safeEmit<K extends keyof SessionEvents>(event: K, ...args: SessionEvents[K]): void {
    try {
      (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.host.reportError(err, `session '${event}' listener`);
    }
  }
}
