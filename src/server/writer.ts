import { ackIsUrgent, packFrames } from '../protocol';
import { Heartbeat } from './heartbeat';
import type { Link } from './link';
import type { SessionState } from './state/types';

/** Retry delay while the transport has a backlog. */
const BACKLOG_RETRY_MS = 5;

/** Messages read from the state per read, for a flush: enough for a large frame, bounded for memory. */
const READ_BATCH = 1000;

/**
 * A control frame (pong, standalone ack) waits while more than this is queued on the connection.
 * They answer what the client sends, so writing them into a backlog would let a client that sends
 * pings and never reads grow our memory with its upload; waiting, they coalesce into one.
 */
export const CONTROL_BACKLOG_BYTES = 4096;

/** What a writer needs from its session. */
export interface WriterSession {
  readonly store: SessionState;
  /** Highest seq assigned, as far as this process knows: everything up to it is to be written. */
  readonly lastSeq: number;
  /** Highest client seq delivered and recorded: what an ack may cover. */
  readonly inSeq: number;
  /** Largest frame for this client: the server's `max` or the client's, whichever is smaller. */
  readonly frameMax: number;
  readonly ackDelay: number;
  readonly backpressureThreshold: number;
  readonly heartbeatInterval: number;
  /** The connection is dead (heartbeat): the session loses the link and stays resumable. */
  dropped(link: Link, reason: string): void;
  /** The state failed (store unavailable): the link closes with 4500. */
  failed(link: Link, error: unknown): void;
}

/**
 * Everything the server sends on one link (docs/protocol.md §7, §9, §10): the messages after
 * what the link has written, as few frames as the limits allow, waiting while it is
 * backlogged; the ack or pong the client is owed; the heartbeat. One per attached link.
 */
export class LinkWriter {
  /** Highest seq written on this link. */
  written: number;
  /** The last `a` sent on this link. */
  #ackSent = 0;
  /**
   * The control frame the client is owed, written by the next flush the connection has room for:
   * any number of pings get one pong, and a pong carries the ack too.
   */
  #owed: 'nothing' | 'ack' | 'pong' = 'nothing';
  #flushQueued = false;
  /** A flush is reading or writing: another request for one runs after it. */
  #flushing = false;
  #again = false;
  #flushTimer: ReturnType<typeof setTimeout> | null = null;
  #ackTimer: ReturnType<typeof setTimeout> | null = null;
  #controlQueued: ReturnType<typeof setImmediate> | null = null;
  readonly #heartbeat: Heartbeat;
  #stopped = false;

  constructor(
    private readonly link: Link,
    private readonly session: WriterSession,
    readonly epoch: number,
    /** What the client already has: hello.a when resuming, 0 for a new session. */
    from: number,
  ) {
    this.written = from;
    this.#heartbeat = new Heartbeat(session.heartbeatInterval, {
      get bufferedAmount() {
        return link.bufferedAmount;
      },
      get lastReceived() {
        return link.lastReceived;
      },
      ping: () => {
        link.sendText(`{"t":"ping","a":${this.session.inSeq}}`);
        this.#sent();
      },
      drop: (reason) => session.dropped(link, reason),
    });
  }

  /** Writes the welcome (built by the session, `a` included), then everything after `from`. */
  start(welcome: string): void {
    this.link.sendText(welcome);
    this.#sent();
    this.#heartbeat.start();
    this.schedule();
  }

  stop(): void {
    this.#stopped = true;
    this.#heartbeat.stop();
    for (const t of [this.#flushTimer, this.#ackTimer]) if (t) clearTimeout(t);
    if (this.#controlQueued) clearImmediate(this.#controlQueued);
    this.#flushTimer = this.#ackTimer = this.#controlQueued = null;
  }

  /** Writes soon: new messages, or a control frame owed. */
  schedule(): void {
    if (this.#flushQueued || this.#flushTimer || this.#stopped) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      void this.#flush();
    });
  }

  /**
   * New client messages were recorded: ack them soon, or now if many are waiting. The timer is
   * armed once and never cleared by the frames that carry the ack meanwhile: when it fires it acks
   * only what is still unacked, so every message is acked within ackDelay, and a conversation
   * whose replies carry the acks costs one timer per ackDelay instead of one per message.
   */
  received(): void {
    const inSeq = this.session.inSeq;
    if (ackIsUrgent(inSeq, this.#ackSent)) return this.owe('ack');
    if (this.#ackTimer) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = null;
      if (this.session.inSeq > this.#ackSent) this.owe('ack');
    }, this.session.ackDelay);
    this.#ackTimer.unref?.();
  }

  /**
   * The client is owed a control frame; a pong also does an ack's job. It leaves at the end of
   * this turn of the event loop, not in a microtask: by then every frame that came with the ping
   * (more pings, messages whose ack it can carry) is handled, and one frame answers them all.
   */
  owe(frame: 'ack' | 'pong'): void {
    if (frame === 'pong' || this.#owed === 'nothing') this.#owed = frame;
    this.#controlQueued ??= setImmediate(() => {
      this.#controlQueued = null;
      this.schedule();
    });
  }

  /** Something went out carrying `a` = inSeq: an owed ack is paid. */
  #sent(): void {
    this.#heartbeat.sent();
    this.#ackSent = this.session.inSeq;
    if (this.#owed === 'ack') this.#owed = 'nothing';
  }

  /**
   * Write every message after `written`, as few frames as the limits allow, then the control
   * frame owed, if any; wait while backlogged. One flush at a time: reads from the state may
   * take a round trip, and what arrives meanwhile is written by the next one.
   */
  async #flush(): Promise<void> {
    if (this.#flushing) {
      this.#again = true;
      return;
    }
    this.#flushing = true;
    try {
      do {
        this.#again = false;
        if (!(await this.#writeMessages())) return;
      } while (this.#again && !this.#stopped);
      this.#writeOwed();
    } catch (err) {
      if (!this.#stopped) this.session.failed(this.link, err);
    } finally {
      this.#flushing = false;
    }
  }

  /** False when it had to stop: backlogged (a retry is set), or the link is over. */
  async #writeMessages(): Promise<boolean> {
    const link = this.link;
    while (this.written < this.session.lastSeq) {
      if (this.#stopped) return false;
      // Let the backlog drain; meanwhile new messages pile up and leave as one frame.
      if (link.bufferedAmount > this.session.backpressureThreshold) return this.#later();
      const entries = await this.session.store.read(this.written + 1, READ_BATCH);
      if (this.#stopped) return false;
      if (entries.length === 0 || entries[0]!.seq !== this.written + 1) break; // nothing new after all, or acked meanwhile
      let first = true;
      for (const { text, last } of packFrames(entries, this.session.frameMax, this.session.inSeq)) {
        if (!first && link.bufferedAmount > this.session.backpressureThreshold) return this.#later();
        first = false;
        link.sendText(text, last);
        this.written = last;
        this.#sent();
        this.#heartbeat.progressed();
        if (this.#stopped) return false; // a send error may have detached us
      }
      const fenced = await this.session.store.wrote(this.epoch, this.written);
      if (fenced) return false;
    }
    return true;
  }

  #writeOwed(): void {
    if (this.#owed === 'nothing' || this.#stopped) return void this.#heartbeat.progressed();
    if (this.link.bufferedAmount > CONTROL_BACKLOG_BYTES) return void this.#later();
    // ack and pong frames have the same shape.
    this.link.sendText(`{"t":"${this.#owed}","a":${this.session.inSeq}}`);
    this.#owed = 'nothing';
    this.#sent();
    this.#heartbeat.progressed();
  }

  #later(): false {
    this.#heartbeat.waiting();
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = null;
      void this.#flush();
    }, BACKLOG_RETRY_MS);
    this.#flushTimer.unref?.();
    return false;
  }
}
