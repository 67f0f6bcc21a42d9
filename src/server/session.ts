import { EventEmitter } from 'node:events';
import { CloseCode, tooLargeFor, type Frame } from '../protocol';
import { faults } from './faults';
import { Inbound } from './inbound';
import { SessionLifetime, type PhaseChange, type SessionPhase } from './lifetime';
import type { Link } from './link';
import type { ResolvedOptions } from './options';
import type { ResumeRefusal, SessionState } from './state/types';
import { LinkWriter } from './writer';

/** What a Session needs from the server that owns it. */
export interface SessionHost {
  readonly options: ResolvedOptions;
  /** The session ended, or (in a cluster) lives on in another process only: this one lets it go. */
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
  /** {@link Session.state} changed (the events above say the same, with their details). */
  state: [change: PhaseChange];
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
 * One client's session, independent of the connection carrying it: the protocol logic
 * (handshake, acks, dedupe, lifetime) over its state (./state: in memory, or in Redis) and the
 * writer of its current link (./writer.ts). A session is attached to at most one {@link Link} at
 * a time and survives `sessionTtl` ms without one.
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

  /** @internal Its state: in memory, or in Redis. */
  readonly store: SessionState;
  private readonly lifetime: SessionLifetime;
  private link: Link | null = null;
  private writer: LinkWriter | null = null;
  /** Largest frame the client takes, from its latest hello (kept while disconnected, for send()). */
  private clientMax = Infinity;
  /** Highest seq assigned, as far as this process knows. */
  private lastSeq = 0;
  /** The client→server half: frames in, messages delivered once. */
  private readonly inbound = new Inbound(this);
  /** The epoch of the latest link this process attached, for the expiry to name. */
  private epoch = 0;

  /** @internal `restored`: a session from an earlier process, disconnected until its client resumes. */
  constructor(
    private readonly host: SessionHost,
    state: SessionState,
    restored = false,
  ) {
    super();
    this.store = state;
    this.id = state.id;
    this.remoteAddress = state.remoteAddress;
    this.lifetime = new SessionLifetime(
      host.options.sessionTtl,
      () => void this.expire(),
      (change) => this.safeEmit('state', change),
    );
    if (restored) this.lifetime.startExpiry();
  }

  /**
   * `'attached'` while a connection here carries it; `'detached'` while it waits `sessionTtl` ms
   * for its client to resume; `'ended'` once over for good. Changes are the `'state'` event.
   */
  get state(): SessionPhase {
    return this.lifetime.phase;
  }

  /** True while a connection is attached. */
  get connected(): boolean {
    return this.link !== null;
  }

  /** True once the session has ended; send() then does nothing. */
  get closed(): boolean {
    return this.state === 'ended';
  }

  /** Messages sent but not yet acknowledged by the client. */
  get unacknowledged(): number {
    return this.store.unacknowledged;
  }

  /**
   * Queue one message (any JSON value) for the client. Calls in the same tick, or while the
   * connection is backlogged, go out together as one frame. Works while disconnected: messages
   * wait in the replay buffer for a resume. Returns false if the session has ended. (A message
   * that overruns the replay buffer ends the session just after: its 'close' says so.)
   * @throws TypeError if `data` is not JSON-serialisable; RangeError if it cannot fit in a frame
   * (of `maxMessageBytes`, or of the smaller `max` the client announced in its latest hello).
   */
  send(data: unknown): boolean {
    const json = serialise(data);
    if (this.closed) return false;
    // Node's own count: a tenth of the time of utf8Length's scan, paid by every message sent.
    this.enqueue(json, Buffer.byteLength(json));
    return true;
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

  /** @internal Why a message of `bytes` cannot be sent to a client taking frames of `clientMax` bytes, or undefined if it can. */
  tooLarge(bytes: number, clientMax = this.clientMax): string | undefined {
    return tooLargeFor(this.host.options.maxMessageBytes, bytes, clientMax);
  }

  /**
   * @internal Attach a link and send welcome. `clientAck` is hello.a when resuming (undefined for
   * a new session); `clientMax` is hello.max. 'failed': the state could not be stored, and the
   * link was closed with 4500; a refusal: the session cannot resume from there.
   */
  async attach(
    link: Link,
    version: number,
    clientAck: number | undefined,
    clientMax = Infinity,
  ): Promise<'attached' | 'failed' | ResumeRefusal> {
    // A resume from a connection accepted before the one attached now: its client gave up on it
    // and opened the newer one since, and only its hello was delayed. Taking the session over
    // would retire the client's live connection with 1000 (for good) in favour of one it left.
    if (this.link && link.serial < this.link.serial) {
      link.close(CloseCode.NORMAL, 'replaced', false);
      return 'failed';
    }
    let attached;
    try {
      attached = await this.store.attach(clientAck, clientMax);
    } catch (err) {
      this.host.reportError(err, 'session state');
      link.close(CloseCode.SERVER_ERROR, 'session store unavailable');
      return 'failed';
    }
    if ('why' in attached) return attached;
    if (this.closed || link.done) {
      // Ended, or the client left, while the state was attaching: let that attach go.
      if (!this.closed)
        void this.store
          .detach(attached.epoch, this.lifetime.startExpiry())
          .catch((err) => this.host.reportError(err, 'session state'));
      return 'failed';
    }
    const old = this.link;
    if (old) {
      // The client reconnected before we noticed the old connection died: retire it quietly.
      this.unlink();
      old.close(CloseCode.NORMAL, 'replaced', false);
    }
    this.link = link;
    this.epoch = attached.epoch;
    this.clientMax = clientMax;
    this.inbound.inSeq = attached.inSeq;
    this.lastSeq = Math.max(this.lastSeq, attached.lastSeq);
    link.opened(this);
    this.lifetime.apply('attach');
    const o = this.host.options;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the getters below read the session's live values
    const session = this;
    this.writer = new LinkWriter(
      link,
      {
        store: this.store,
        get lastSeq() {
          return session.lastSeq;
        },
        get inSeq() {
          return session.inbound.inSeq;
        },
        frameMax: Math.min(o.maxMessageBytes, clientMax),
        ackDelay: o.ackDelay,
        backpressureThreshold: o.backpressureThreshold,
        heartbeatInterval: o.heartbeatInterval,
        dropped: (dead, reason) => {
          // Dead either way; the session stays resumable.
          dead.close(CloseCode.TIMEOUT, reason);
          this.detach(dead);
        },
        failed: (failing, err) => this.failed(failing, err),
      },
      attached.epoch,
      clientAck === undefined ? 0 : clientAck + (faults.replayPastAck ? 1 : 0),
    );
    // welcome.a = inSeq: only what the state recorded; the writer then retransmits everything after clientAck.
    this.writer.start(
      JSON.stringify({
        t: 'welcome',
        v: version,
        sid: this.id,
        key: this.store.key,
        resumed: clientAck !== undefined,
        a: this.inbound.inSeq,
        hb: o.heartbeatInterval,
        max: o.maxMessageBytes,
        transports: o.transports,
      }),
    );
    return 'attached';
  }

  /** @internal The link is gone; keep the session for a resume unless it can no longer resume. */
  detach(link: Link): void {
    if (this.link !== link || this.closed) return;
    const epoch = this.writer!.epoch;
    this.unlink();
    if (!this.store.resumable) return this.end(CloseCode.ABNORMAL, 'replay buffer overrun');
    this.lifetime.apply('detach');
    void this.store.detach(epoch, this.lifetime.expiresAt).catch((err) => this.host.reportError(err, 'session state'));
    this.safeEmit('disconnect');
  }

  /** Its time without a link ran out here: it ends, unless its client resumed it on another process meanwhile. */
  private async expire(): Promise<void> {
    let expired: boolean;
    try {
      expired = await this.store.expire(this.epoch);
    } catch (err) {
      // The store's own expiry decides; this process lets it go.
      this.host.reportError(err, 'session state');
      expired = false;
    }
    if (this.state !== 'detached') return;
    if (expired) this.end(CloseCode.ABNORMAL, 'session expired');
    else this.host.onSessionEnd(this);
  }

  /** @internal The client resumed it on a new connection: the app hears 'resume'. */
  resumed(): void {
    this.safeEmit('resume');
  }

  /** @internal Another process appended messages, up to `lastSeq`. */
  woke(lastSeq: number): void {
    if (lastSeq <= this.lastSeq) return;
    this.lastSeq = lastSeq;
    this.writer?.schedule();
  }

  /** @internal A link of `epoch` took the session on another process: ours, if older, is over, and the session lives there. */
  fenced(epoch: number): void {
    const link = this.link;
    if (!link || this.writer!.epoch >= epoch) return;
    this.replaced(link);
    this.host.onSessionEnd(this);
  }

  /** @internal End for good. Closes the current link, if any, with `code`. */
  end(code: number, reason: string): void {
    if (this.closed) return;
    this.lifetime.apply('end');
    const link = this.link;
    this.unlink();
    link?.close(code, reason);
    void this.store.end().catch((err) => this.host.reportError(err, 'session state'));
    this.host.onSessionEnd(this);
    this.safeEmit('close', code, reason);
  }

  /** @internal Queue an already-serialised message (broadcast serialises once for all sessions). */
  enqueue(json: string, bytes: number): void {
    const why = this.tooLarge(bytes);
    if (why) throw new RangeError(`realtime: ${why}`);
    // Appends are applied in call order (memory: at once; Redis: one connection, in order).
    this.store.append([{ json, bytes }], this.writer?.written ?? 0).then(
      (r) => {
        // Ended meanwhile (here: for this very message, to make room; elsewhere: closed, expired, or lost with the store).
        if ('ended' in r) return this.end(CloseCode.ABNORMAL, 'session gone from the store');
        if (r.last > this.lastSeq) this.lastSeq = r.last;
        if ('overrun' in r) {
          // The store now refuses resumes (store.resumable is false): the session ends with its link.
          // Held by no link, the session can never resume now; with one here, losing a message
          // never written would leave a gap on a live connection. Either way: end it. (A session
          // that only lost messages already written lives on until its connection drops; one
          // held by another process is ended there.)
          if (!r.attached) return this.end(CloseCode.ABNORMAL, 'replay buffer overrun');
          if (r.unwritten && this.link)
            return this.end(CloseCode.SERVER_ERROR, 'replay buffer overrun: client too slow');
        }
        this.writer?.schedule();
      },
      (err) => {
        // Not stored: rather than a gap the client could not see, a session it knows is lost.
        this.host.reportError(err, 'session state');
        this.end(CloseCode.SERVER_ERROR, 'session store unavailable');
      },
    );
  }

  /** @internal One decoded frame from the attached link; the link hands them over one at a time. */
  handleFrame(frame: Frame, link: Link): Promise<void> {
    const writer = this.writer;
    if (link !== this.link || !writer) return Promise.resolve();
    return this.inbound.handle(frame, link, writer);
  }

  /** @internal Whether `link` is the one carrying the session now. */
  holds(link: Link): boolean {
    return link === this.link;
  }

  /** @internal One client message, in order, for the app. */
  deliver(data: unknown, seq: number): void {
    this.safeEmit('message', data, seq);
  }

  /**
   * @internal A newer link took the session (on another process): this one is over, quietly, as on a resume
   * here. Detached, the session waits for its expiry, which lets it go here (it lives on there).
   */
  replaced(link: Link): void {
    if (this.link !== link) return;
    this.unlink();
    this.lifetime.apply('detach');
    link.close(CloseCode.NORMAL, 'replaced', false);
  }

  /** @internal The state could not be read or written (a session store that failed, Redis down): the link goes, the session stays. */
  failed(link: Link, err: unknown): void {
    this.host.reportError(err, 'session state');
    link.fail(CloseCode.SERVER_ERROR, 'session store unavailable');
  }

  /** Forget the current link and everything tied to it. */
  private unlink(): void {
    this.link = null;
    this.writer?.stop();
    this.writer = null;
  }

  private safeEmit<K extends keyof SessionEvents>(event: K, ...args: SessionEvents[K]): void {
    try {
      (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.host.reportError(err, `session '${event}' listener`);
    }
  }
}
