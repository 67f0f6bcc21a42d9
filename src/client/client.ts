import { defaultReconnect, shouldRetry, type ReconnectOptions } from './backoff';
import { resolveEnv, type Env } from './env';
import { RealtimeError, type ErrorCode } from './errors';
import { Watchdog } from './heartbeat';
import { ackIsUrgent, CloseCode, decodeFrame, duplicatesIn, FRAME_OVERHEAD, isRetryableClose, packFrames, MIN_FRAME_LIMIT, PROTOCOL_VERSION, truncateReason, utf8Length, type Frame, type TransportName } from '../protocol';
import type { OwnedQueue, QueueStorage, Saved } from './persist';
import { defaultQueue, Outbox, type Pending, type QueueOptions } from './queue';
import { nextState, type ConnectionState, type StateEvent } from './state';
import type { Connection, OpenContext, Transport } from './transports/types';

export interface HeartbeatOptions {
  /**
   * Grace after the server's announced ping interval (protocol v1, believed up to 5 minutes): with
   * no frame for interval + timeout, the connection is treated as dead and replaced. Also bounds
   * how long a connection attempt may take before its first frame, and how long a long-poll
   * answer may go on past the poll's `wait`.
   * @default 10000
   */
  timeout?: number;
  /** Plain mode: with no frame for this long, the connection is treated as dead. `0` turns it off. @default 60000 */
  idleTimeout?: number;
}

export interface ClientOptions {
  /**
   * Transports in order of preference, by name or as transport objects. When one fails to open,
   * the next is tried at once.
   * @default ['websocket', 'sse', 'fetch-stream', 'long-poll'] (those the build includes)
   */
  transports?: Array<TransportName | Transport>;
  /** 'v1' speaks the realtime-client protocol (acks, resume); 'plain' talks to any endpoint. @default 'v1' */
  protocol?: 'v1' | 'plain';
  /** Connect from the constructor. @default true */
  autoConnect?: boolean;
  /** Reconnect policy, or `false` to never reconnect. @default { initialDelay: 1000, maxDelay: 30000, factor: 2, maxAttempts: Infinity, resetAfter: 5000 } */
  reconnect?: Partial<ReconnectOptions> | false;
  /** Dead-connection detection. @default { timeout: 10000, idleTimeout: 60000 } */
  heartbeat?: HeartbeatOptions;
  /** Bounds on messages waiting to be sent or acknowledged. @default { maxMessages: 1000, maxBytes: 1048576 } */
  queue?: Partial<QueueOptions>;
  /**
   * Returns the token for the next connect attempt; called before every attempt so it can refresh.
   * It travels as `Authorization: Bearer` on the POST carrying hello (SSE, fetch-stream,
   * long-poll) or in the hello frame (WebSocket), never in a URL, log or error message. A refusal
   * (close 4401, HTTP 401 or 403) asks again; after 3 in a row the client stops with 'unauthorized'.
   * @default undefined
   */
  auth?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Longest wait before a standalone ack, when no outgoing frame carries it, in ms. @default 50 */
  ackDelay?: number;
  /**
   * After falling back to a worse transport, how often to probe the first one, in ms; when it
   * opens, the session moves over to it. `0` turns probing off.
   * @default 30000
   */
  probeInterval?: number;
  /**
   * Largest frame accepted from the server, in bytes of UTF-8 (plain mode: one line, event or
   * response). Announced in hello so a v1 server splits its batches to fit. A larger frame is
   * refused with a 'message-too-large' error and the connection is replaced after backoff; a
   * transport that gathers a frame piecewise stops reading once past this limit, so a faulty
   * server cannot exhaust memory. The default matches the reference server's maxMessageBytes,
   * so by default either side takes whatever the other may send. At least 256.
   * @default 1048576
   */
  maxFrameSize?: number;
  /** Platform globals, for workers, tests and non-browser hosts. @default globalThis's */
  env?: Partial<Env>;
}

export interface SendOptions {
  /** Give up on the message, rejecting with 'expired', if it could not be sent within this many ms (e.g. while offline). @default none */
  ttl?: number;
  /** 'Latest value wins': a newer message with the same key replaces this one while both wait to be sent; its promise settles with the newer one's. @default none */
  key?: string;
}

export interface RealtimeEventMap {
  open: { transport: TransportName; resumed: boolean };
  message: unknown;
  state: { from: ConnectionState; to: ConnectionState };
  reconnecting: { attempt: number; delay: number };
  close: { code: number; reason: string; willReconnect: boolean };
  error: RealtimeError;
  transport: { from: TransportName | null; to: TransportName };
}

/** Above this many unwritten bytes, outgoing messages wait and go out as one batch. */
const BACKLOG_BYTES = 1 << 16;
/** Page Lifecycle 'resume' fires on document when a frozen page thaws, its timers having stood still. */
const LISTENED = ['online', 'pageshow', 'pagehide', 'visibilitychange', 'resume'] as const;
/**
 * The longest ping interval (welcome's `hb`) the watchdog believes, in ms. A server announcing
 * more, or 2^53, would leave a dead connection unnoticed that long; real ones ping every 15-60 s
 * because proxies cut idle connections after about a minute.
 */
const MAX_HB = 5 * 60_000;
/** How long a fallback transport is remembered, in ms: long enough to skip dead transports on the next pages, short enough to retry better ones. */
const REMEMBER = 30 * 60_000;

/**
 * One client over any transport. It is an EventTarget: `on()` is the typed shortcut, and
 * `addEventListener` receives CustomEvents whose `detail` is what `on()` passes.
 */
export class RealtimeClient extends EventTarget {
  state: ConnectionState = 'closed';
  /** The transport carrying the current connection, or the last one, or null before any. */
  transport: TransportName | null = null;

  readonly #env: Env;
  readonly #transports: Transport[];
  readonly #plain: boolean;
  readonly #reconnectOpts: ReconnectOptions | false;
  readonly #timeout: number;
  readonly #idleTimeout: number;
  readonly #ackDelay: number;
  readonly #outbox: Outbox;
  readonly #watchdog: Watchdog;

  /** Each connection attempt's id; callbacks carrying an older id belong to a stale transport. */
  #attemptId = 0;
  #conn: Connection | null = null;
  /** Failed attempts since the last stable connection. */
  #attempt = 0;
  #authFailures = 0;
  /** Transports that exist here, and the indexes of the current attempt's and of the one to start from. */
  #usable: Transport[] = [];
  #index = 0;
  #best = 0;
  readonly #probeInterval: number;
  /** How long a connection must stay open to count as working (reconnect.resetAfter). */
  readonly #resetAfter: number;
  #probeTimer: unknown;
  #probe: Connection | null = null;
  #retryTimer: unknown;
  #stableTimer: unknown;
  #ackTimer: unknown;
  #flushTimer: unknown;
  #flushQueued = false;
  /**
   * The control frame this connection owes the server, written once its buffer is empty: one pong
   * answers every ping that came meanwhile, and like an ack it carries the newest `a`.
   */
  #owed: 'ack' | 'pong' | undefined;
  #session: { sid: string; key: string } | null = null;
  /** Highest server seq received without a gap, and the highest told to the server. */
  #received = 0;
  #acked = 0;
  #openedAt = 0;
  /** Why each transport of the current attempt failed before opening, for the 'connect-failed' error. */
  #failures: string[] = [];
  readonly #auth: ClientOptions['auth'];
  /** Largest frame the server accepts, from its welcome. */
  #maxFrame = Infinity;
  /** Where queue.persist keeps the queue; undefined once it proved unusable here. */
  #storage: QueueStorage | undefined;
  /** The persisted queue, while this client owns it. */
  #owned: OwnedQueue | undefined;
  #saveQueued = false;
  /** Whether a persisted record exists, so an empty queue deletes it once, not at every ack. */
  #stored = false;
  /** The `a` of each save still being written, oldest first, and of the last one written (Infinity: no record). */
  #writing: number[] = [];
  #written = Infinity;
  /** What every transport opens with; maxFrame is the maxFrameSize option. */
  readonly #ctx: OpenContext;

  constructor(
    readonly url: string,
    options: ClientOptions = {},
    available: Transport[] = [],
    storages: QueueStorage[] = [],
  ) {
    super();
    const o = options;
    this.#env = resolveEnv(o.env);
    this.#plain = o.protocol === 'plain';
    try {
      new URL(url, this.#env.baseUrl);
    } catch {
      throw invalid(`bad URL ${url}: give an absolute URL, or a relative one in a page`);
    }
    if (o.protocol && o.protocol !== 'v1' && !this.#plain) throw invalid(`protocol must be 'v1' or 'plain'`);
    this.#transports = (o.transports ?? available).map((t) => (typeof t === 'string' || !t ? named('transport', t, available) : t));
    if (!this.#transports.length) throw invalid('options.transports is empty');
    this.#reconnectOpts = o.reconnect === false ? false : { ...defaultReconnect, ...o.reconnect };
    this.#timeout = o.heartbeat?.timeout ?? 10000;
    this.#idleTimeout = o.heartbeat?.idleTimeout ?? 60000;
    this.#ackDelay = o.ackDelay ?? 50;
    this.#probeInterval = o.probeInterval ?? 30000;
    this.#resetAfter = (this.#reconnectOpts || defaultReconnect).resetAfter;
    this.#outbox = new Outbox({ ...defaultQueue, ...o.queue }, () => this.#persist());
    const persist = o.queue?.persist;
    if (persist) this.#storage = typeof persist === 'string' ? named('queue.persist', persist, storages) : persist;
    this.#watchdog = new Watchdog(this.#env, () => this.#drop(CloseCode.TIMEOUT, 'heartbeat timeout'));
    this.#auth = o.auth;
    const maxFrame = o.maxFrameSize ?? 1048576;
    if (!Number.isSafeInteger(maxFrame) || maxFrame < MIN_FRAME_LIMIT) throw invalid(`maxFrameSize ${maxFrame}: give a whole number >= ${MIN_FRAME_LIMIT}`);
    this.#ctx = { env: this.#env, plain: this.#plain, maxFrame, timeout: this.#timeout };
    if (o.autoConnect !== false) this.connect();
  }

  /** Subscribes to an event; returns a function that unsubscribes (safe to call twice). */
  on<K extends keyof RealtimeEventMap>(type: K, listener: (detail: RealtimeEventMap[K]) => void): () => void {
    const l = (e: Event) => listener((e as CustomEvent).detail);
    this.addEventListener(type, l);
    return () => this.removeEventListener(type, l);
  }

  /**
   * Sends one message. Resolves when the server acknowledges it (v1) or when it is handed to
   * the transport (plain). While offline, it waits in the bounded queue.
   */
  send(data: unknown, options: SendOptions = {}): Promise<void> {
    let json: string | undefined;
    let cause: unknown;
    try {
      json = this.#plain && typeof data === 'string' ? data : JSON.stringify(data);
    } catch (e) {
      cause = e;
    }
    if (json === undefined) return reject('not-serializable', `send(${typeof data}): not JSON-serializable: no cycles, BigInts, functions or undefined`, data, cause);
    if (this.state === 'closed') return reject('closed', 'send() on a closed client: call connect() first', data);
    const bytes = utf8Length(json);
    if (bytes + FRAME_OVERHEAD > this.#maxFrame) return reject('message-too-large', `Message of ${bytes} B; the server takes ${this.#maxFrame} B: split it`, data);
    const full = this.#outbox.refuse(bytes);
    if (full) return reject('queue-full', `Queue full (${full}): await earlier send()s or raise ${full}`, data);
    return new Promise<void>((resolve, rej) => {
      const { ttl, key } = options;
      let timer: unknown;
      const settled = () => this.#env.clearTimeout(timer);
      const exp = ttl === undefined ? undefined : this.#env.now() + ttl;
      const p = this.#outbox.push({ json: json!, bytes, data, key, exp, resolve: () => (settled(), resolve()), reject: (e) => (settled(), rej(e)) });
      timer = this.#expire(p);
      this.#scheduleFlush();
    });
  }

  /** Arms a message's ttl: still unsent when it runs out, it is taken out and rejected with 'expired'. */
  #expire(p: Pending): unknown {
    if (p.exp !== undefined)
      return this.#env.setTimeout(() => {
        if (this.#outbox.remove(p)) p.reject(new RealtimeError('expired', 'Not sent within its ttl', { data: p.data }));
      }, p.exp - this.#env.now());
  }

  /** Starts connecting, if closed. The constructor calls it unless `autoConnect: false`. */
  connect(): void {
    if (this.state !== 'closed') return;
    this.#attempt = this.#authFailures = 0;
    this.#listen('addEventListener');
    this.#setState('connect');
    // The first attempt starts in a microtask, so listeners added right after the constructor
    // see everything it reports; close() before then cancels it.
    const id = this.#attemptId;
    queueMicrotask(() => id === this.#attemptId && this.#begin(id));
  }

  async #begin(id: number): Promise<void> {
    if (this.#storage && !this.#owned) {
      await this.#own(id);
      if (id !== this.#attemptId) return;
    }
    this.#failures = [];
    this.#usable = this.#transports.filter((t) => t.isSupported(this.#env));
    if (!this.#usable.length)
      return this.#finish({ code: CloseCode.ABNORMAL, reason: 'no supported transport', willReconnect: false }, new RealtimeError('unsupported', `No transport of ${this.#transports.map((t) => t.name)} works here: add one, or pass its global in options.env`));
    let remembered: string[] = [];
    try {
      remembered = this.#env.storage?.getItem(this.#key)?.split(' ') ?? [];
    } catch {}
    this.#best = +remembered[1]! > this.#env.now() ? Math.max(0, this.#usable.findIndex((t) => t.name === remembered[0])) : 0;
    this.#start(this.#best);
  }

  get #key(): string {
    return `realtime-client ${this.url}`;
  }

  // ---- persisted queue ----

  /**
   * Takes the persisted queue over, if no other page holds it: the lock stays held until close()
   * or the page goes away, so two tabs never send one queue twice. What an earlier page left goes
   * ahead of anything sent meanwhile, with its session, so the first attempt resumes it.
   */
  async #own(id: number): Promise<void> {
    const owned = await this.#storage!.own(`realtime-client queue ${this.url}`, this.#env).catch(String);
    if (typeof owned === 'string') {
      this.#storage = undefined;
      return this.#emit('error', new RealtimeError('unsupported', `queue.persist: ${owned}; the queue is kept in memory only`));
    }
    // Another page owns it: this one keeps its queue in memory, as without persist.
    if (!owned) return;
    if (id !== this.#attemptId) return owned.release();
    this.#owned = owned;
    this.#stored = !!owned.saved;
    if (owned.saved) this.#restore(owned.saved);
  }

  #restore(s: Saved): void {
    if (s.sid) this.#session = { sid: s.sid, key: s.key! };
    this.#received = this.#acked = s.a;
    const items = s.items.map(([seq, json, key, exp]): Pending => {
      // Its send() promise died with the earlier page: a failure now is reported as an 'error' event.
      return { seq, json, bytes: utf8Length(json), data: parsed(json), key: key ?? undefined, exp: exp ?? undefined, resolve() {}, reject: (e) => this.#emit('error', e) };
    });
    this.#outbox.adopt(items, s.sent);
    items.forEach((p) => this.#expire(p));
  }

  /** Saves the queue at the end of the current task, once however many changes it made. */
  #persist(): void {
    if (!this.#owned || this.#saveQueued) return;
    this.#saveQueued = true;
    queueMicrotask(() => this.#save());
  }

  #save(): void {
    this.#saveQueued = false;
    const o = this.#outbox;
    const owned = this.#owned;
    if (!owned || !(o.items.length || this.#stored)) return;
    this.#stored = !!o.items.length;
    const s: Saved | undefined = this.#stored ? { ...this.#session, a: this.#received, sent: o.sent, items: o.items.map((p) => [p.seq, p.json, p.key ?? null, p.exp ?? null]) } : undefined;
    this.#writing.push(s ? s.a : Infinity);
    owned
      .save(s)
      .catch((cause: unknown) => this.#emit('error', new RealtimeError('queue-full', `queue.persist: save failed (${cause}): a reload now may lose the queue`, { cause })))
      .then(() => {
        this.#written = this.#writing.shift()!;
        if (this.#ackTimer === undefined && this.#received > this.#acked) this.#oweAck();
      });
  }

  get #ackable(): number {
    return Math.min(this.#received, this.#written, ...this.#writing);
  }

  /** Closes for good: no reconnect. Messages not yet acknowledged are rejected with 'closed'. */
  close(code: number = CloseCode.NORMAL, reason = 'client closed'): void {
    if (this.state === 'closed') return;
    this.#hangUp(code, reason);
    this.#finish({ code, reason, willReconnect: false }, new RealtimeError('closed', 'close() before the server acknowledged this'));
  }

  // ---- connection lifecycle ----

  async #start(index: number): Promise<void> {
    const id = ++this.#attemptId;
    const transport = this.#usable[(this.#index = index)]!;
    const next = index + 1;
    // The watchdog also bounds the attempt itself: a connect that hangs is a failed connect.
    this.#watchdog.start(this.#timeout);
    let token: string | undefined;
    if (this.#auth && !this.#plain) {
      try {
        token = (await this.#auth()) ?? undefined;
      } catch (cause) {
        if (id !== this.#attemptId) return;
        this.#emit('error', new RealtimeError('unauthorized', 'auth() failed; retrying', { cause }));
        return this.#lost(CloseCode.UNAUTHORIZED, 'auth callback failed', next);
      }
      if (id !== this.#attemptId) return;
    }
    // A transport that carries the token itself gets it here; the others send it in hello.
    const header = transport.auth === 'header';
    let conn: Connection;
    try {
      conn = this.#conn = transport.open(this.url, {
      onOpen: () => {
        if (id !== this.#attemptId) return;
        if (this.transport !== transport.name) this.#emit('transport', { from: this.transport, to: transport.name });
        this.transport = transport.name;
        this.#watchdog.touch();
        if (this.#plain) this.#opened(this.#idleTimeout, false);
        else conn.send(JSON.stringify({ t: 'hello', v: [PROTOCOL_VERSION], ...this.#session, a: this.#ackable, max: this.#ctx.maxFrame, token: header ? undefined : token }));
      },
      onFrame: (text) => id === this.#attemptId && this.#onFrame(text),
      onProtocolError: (what) => id === this.#attemptId && this.#protocolError(what),
      onClose: (code, reason, retryAfter) => {
        if (id !== this.#attemptId) return;
        this.#conn = null;
        // A connection dropped (1006) before it proved stable counts as failing to open, as a
        // proxy that accepts WebSocket upgrades and then kills them does: move on to the next.
        const unproven = this.state !== 'open' || (code === CloseCode.ABNORMAL && this.#env.now() - this.#openedAt < this.#resetAfter);
        // A server that says when to come back is busy, not broken: no fallback, wait as told.
        this.#lost(code, reason, unproven && retryAfter === undefined ? next : -1, retryAfter);
      },
    }, { ...this.#ctx, token: header ? token : undefined });
    } catch (e) {
      this.#lost(CloseCode.ABNORMAL, String(e), next);
    }
  }

  /** The session is usable: as soon as the transport opens (plain), or on welcome (v1). */
  #opened(deadline: number, resumed: boolean): void {
    if (deadline) this.#watchdog.start(deadline);
    else this.#watchdog.stop();
    this.#failures = [];
    this.#best = this.#index;
    try {
      if (this.#index) this.#env.storage?.setItem(this.#key, `${this.transport} ${this.#env.now() + REMEMBER}`);
      else this.#env.storage?.removeItem(this.#key);
    } catch {}
    // Plain endpoints cannot resume, so moving one to another transport could lose or repeat data.
    if (this.#index && this.#probeInterval && !this.#plain) this.#probeTimer = this.#env.setTimeout(() => this.#upgrade(), this.#probeInterval);
    this.#env.clearTimeout(this.#stableTimer);
    this.#openedAt = this.#env.now();
    this.#stableTimer = this.#env.setTimeout(() => (this.#attempt = 0), this.#resetAfter);
    this.#setState('opened');
    this.#emit('open', { transport: this.transport!, resumed });
    this.#flush();
  }

  /**
   * The connection is gone. `fallback` is the index of the next transport to try at once when
   * the session never opened over this one, or -1 to wait out the backoff.
   */
  #lost(code: number, reason: string, fallback: number, retryAfter?: number): void {
    this.#stop();
    if (this.state === 'closed') return;
    // A refused token is not a failed connection: auth() is asked again and 'unauthorized' ends it.
    if (fallback >= 0 && this.state !== 'open' && code !== CloseCode.UNAUTHORIZED) this.#failures.push(`${this.#usable[this.#index]!.name}: ${code} ${reason}`);
    if (code === CloseCode.UNAUTHORIZED) this.#authFailures++;
    else if (isRetryableClose(code) && fallback >= 0) {
      if (fallback < this.#usable.length) {
        this.#emit('close', { code, reason, willReconnect: true });
        if (this.state === 'open') this.#setState('dropped');
        return void this.#start(fallback);
      }
      this.#best = 0; // every transport failed: the next attempt goes through them all again
    }
    const decision = shouldRetry(code, reason, this.#attempt, this.#authFailures, this.#reconnectOpts, this.#env.random, retryAfter);
    if ('error' in decision) return this.#finish({ code, reason, willReconnect: false }, decision.error);
    this.#dropped(code, reason);
    if (this.#failures.length) this.#emit('error', new RealtimeError('connect-failed', `Could not connect (${this.#failures.join('; ')}); retrying`, { closeCode: code }));
    this.#failures = [];
    if (this.#env.navigator?.onLine === false) return; // 'online' will call wake(); offline time burns no attempts
    this.#attempt++;
    this.#emit('reconnecting', { attempt: this.#attempt, delay: decision.delay });
    this.#retryTimer = this.#env.setTimeout(() => this.#start(this.#best), decision.delay);
  }

  /**
   * Tries the first transport beside the working one; if it opens, the session moves to it
   * through a resume, so nothing is lost or repeated.
   */
  #upgrade(): void {
    const id = this.#attemptId;
    const retry = () => {
      this.#probe?.close(CloseCode.NORMAL, 'probe');
      this.#probe = null;
      if (id === this.#attemptId) this.#probeTimer = this.#env.setTimeout(() => this.#upgrade(), this.#probeInterval);
    };
    const failed = () => {
      if (id !== this.#attemptId) return;
      this.#env.clearTimeout(this.#probeTimer);
      retry();
    };
    this.#probeTimer = this.#env.setTimeout(retry, this.#timeout);
    this.#probe = this.#usable[0]!.open(
      this.url,
      {
        onOpen: () => {
          if (id !== this.#attemptId) return;
          this.#leave('upgrade');
          this.#start(0);
        },
        onFrame() {},
        onClose: failed,
        onProtocolError: failed,
      },
      // No token: a probe only checks that the transport opens, and sends nothing (no hello).
      // The attempt that follows a successful probe asks auth() and authenticates as usual.
      this.#ctx, // probes happen in v1 only, so plain is false
    );
  }

  /**
   * Ends the current connection from this side: closes it with `code`, then handles the loss as
   * `outcome` (a bad frame is our verdict, not the server's "do not reconnect", so it resumes).
   */
  #drop(code: number, reason: string, outcome = code): void {
    this.#hangUp(code, reason);
    this.#lost(outcome, reason, this.state === 'open' ? -1 : this.#index + 1);
  }

  /** Stops the current attempt and closes its connection, if any, with `code`. */
  #hangUp(code: number, reason: string): void {
    const conn = this.#conn;
    this.#stop();
    conn?.close(code, reason);
  }

  /** Lets the connection go but keeps the session, for the next attempt to resume. */
  #leave(reason: string): void {
    this.#hangUp(CloseCode.SWITCHING, reason);
    this.#dropped(CloseCode.SWITCHING, reason);
  }

  /** Reports a lost connection that will be replaced. */
  #dropped(code: number, reason: string): void {
    this.#emit('close', { code, reason, willReconnect: true });
    this.#setState('dropped');
  }

  /** Stops everything tied to the current attempt. */
  #stop(): void {
    this.#attemptId++;
    this.#conn = null;
    this.#watchdog.stop();
    for (const t of [this.#retryTimer, this.#stableTimer, this.#ackTimer, this.#flushTimer, this.#probeTimer]) this.#env.clearTimeout(t);
    this.#probe?.close(CloseCode.NORMAL, 'probe');
    this.#probe = null;
    this.#ackTimer = this.#owed = undefined; // the next hello carries the ack
    this.#flushQueued = false;
  }

  /** Ends in the closed state: every pending send() is rejected, never dropped silently. */
  #finish(detail: RealtimeEventMap['close'], error: RealtimeError): void {
    this.#listen('removeEventListener');
    const pending = this.#outbox.take();
    this.#outbox.restart();
    // Rejected below, so no later page may send them: the record goes, and the lock with it.
    this.#save();
    this.#owned?.release();
    this.#owned = undefined;
    this.#session = null;
    this.#received = this.#acked = 0;
    this.#setState('ended');
    this.#emit('close', detail);
    if (error.code !== 'closed') this.#emit('error', error);
    for (const p of pending) p.reject(new RealtimeError(error.code, error.message, { data: p.data, closeCode: error.closeCode }));
  }

  /** Page and network events that call for a liveness check, watched while not closed. */
  #listen(method: 'addEventListener' | 'removeEventListener'): void {
    for (const t of LISTENED) (t === 'visibilitychange' || t === 'resume' ? this.#env.document : this.#env.window)?.[method](t, this.#wake);
  }

  /**
   * The page came back or the network returned: check liveness now, since timers may have
   * been throttled. 'online' and a page restored from the back/forward cache cut a backoff wait
   * short. A page entering that cache lets its connection go (keeping the session), so the
   * browser can freeze it and the server frees the link; it resumes on the way back.
   */
  readonly #wake = (e: Event): void => {
    const restored = (e as PageTransitionEvent).persisted;
    if (e.type === 'pagehide') {
      // The last moment a leaving page surely runs: save what the next load needs, synchronously with localStorage.
      this.#save();
      if (restored && this.state !== 'closed') {
        this.#leave('page frozen');
      }
    } else if (this.state === 'open') this.#watchdog.check();
    else if ((e.type === 'online' || (e.type === 'pageshow' && restored)) && this.state === 'reconnecting' && !this.#conn) {
      this.#env.clearTimeout(this.#retryTimer);
      this.#start(this.#best);
    }
  };

  // ---- frames ----

  #onFrame(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only a long text needs counting.
    const max = this.#ctx.maxFrame;
    const bytes = text.length * 3 > max ? utf8Length(text) : 0;
    if (bytes > max) return this.#refuse('message-too-large', `Server frame of ${bytes} B > maxFrameSize (${max} B): raise it, or have the server send smaller messages; reconnecting`, CloseCode.TOO_LARGE);
    this.#watchdog.touch();
    if (this.#plain) return this.#emit('message', parsed(text));
    const f = decodeFrame(text);
    if (typeof f === 'string') return this.#protocolError(f);
    if (this.state !== 'open' && f.t !== 'welcome' && f.t !== 'close') return this.#protocolError(`${f.t} before welcome`);
    // Only msg, ack, ping and pong carry an ack, validated by decodeFrame; an `a` on any other
    // frame is an unknown field (§2: ignored), and may hold anything, such as an array 4,000 deep.
    if (f.t !== 'close' && f.t !== 'welcome' && f.t !== 'hello' && f.a !== undefined) {
      // Acking what was never sent would resolve, and drop, messages still waiting to go.
      if (f.a > this.#outbox.sent) return this.#protocolError(`ack ${f.a} of unsent messages`);
      this.#outbox.ack(f.a);
    }
    switch (f.t) {
      case 'welcome':
        return this.#welcome(f);
      case 'msg': {
        const skip = duplicatesIn(this.#received, f.s, f.d.length);
        if (skip < 0) return this.#protocolError(`seq ${f.s} after ${this.#received}`);
        this.#received = f.s + f.d.length - 1;
        for (let i = skip; i < f.d.length; i++) this.#emit('message', f.d[i]);
        return this.#scheduleAck();
      }
      case 'ping':
        this.#owed = 'pong';
        return this.#scheduleFlush();
      case 'close':
        return this.#drop(f.code, truncateReason(f.reason));
      case 'hello':
      case 'pong':
        return this.#protocolError(f.t);
    }
  }

  #welcome(f: Extract<Frame, { t: 'welcome' }>): void {
    if (this.state === 'open') return this.#protocolError('second welcome');
    if (f.v !== PROTOCOL_VERSION) return this.#protocolError(`version ${f.v}`);
    this.#authFailures = 0;
    if (f.max < MIN_FRAME_LIMIT) return this.#protocolError(`welcome max ${f.max} < ${MIN_FRAME_LIMIT}`);
    this.#maxFrame = f.max;
    const askedResume = this.#session?.sid;
    this.#session = { sid: f.sid, key: f.key };
    if (!f.resumed) {
      this.#received = this.#acked = 0;
      const lost = this.#outbox.restart();
      if (askedResume) {
        const why = 'Session lost (expired or overran): messages may be missing; reload state';
        this.#emit('error', new RealtimeError('session-lost', why));
        for (const p of lost) p.reject(new RealtimeError('session-lost', `${why}. This one may not have arrived: resend it if idempotent`, { data: p.data }));
      }
    } else this.#outbox.rewind(f.a);
    this.#opened(Math.min(f.hb, MAX_HB) + this.#timeout, f.resumed);
  }

  #protocolError(what: string): void {
    this.#refuse('protocol-error', `Server broke the protocol (${what}); reconnecting. Not a v1 server? Use protocol: 'plain'`, CloseCode.PROTOCOL_ERROR);
  }

  /**
   * A server frame we will not take: report it, then replace the connection. While open that
   * waits out the backoff, so a server repeating the frame on every resume causes no tight loop;
   * what arrived before it stays delivered and acked, and the resume asks only for what follows.
   */
  #refuse(code: ErrorCode, message: string, closeCode: number): void {
    this.#emit('error', new RealtimeError(code, message));
    this.#drop(closeCode, code, CloseCode.ABNORMAL);
  }

  // ---- outgoing ----

  #scheduleFlush(): void {
    if (this.#flushQueued || this.state !== 'open') return;
    this.#flushQueued = true;
    // A microtask gathers every send() of the current task into one frame at no latency cost.
    queueMicrotask(() => this.#flushQueued && this.#flush());
  }

  #flush(): void {
    this.#flushQueued = false;
    const conn = this.#conn;
    if (!conn || this.state !== 'open') return;
    if (conn.buffered > BACKLOG_BYTES) return this.#flushLater();
    const items = this.#outbox.unsent();
    if (this.#plain) {
      for (const p of this.#outbox.take(items.length)) {
        conn.send(p.json);
        p.resolve();
      }
      return;
    }
    const a = this.#ackable;
    for (const frame of packFrames(items, this.#maxFrame, a)) {
      conn.send(frame.text);
      this.#outbox.sent = frame.last;
    }
    if (items.length) this.#acked = a;
    this.#persistAck();
    // A msg frame carried the ack owed, or it waits for its save (#save owes it again); a pong
    // stays owed, as the answer to a ping.
    if (this.#owed === 'ack' && a <= this.#acked) this.#owed = undefined;
    if (!this.#owed) return;
    // Only into an empty buffer: frames leave in order, so one written behind a backlog would
    // arrive no sooner, and held back here it stays one frame with the newest ack, however many
    // pings a server that does not read sends meanwhile.
    if (conn.buffered) return this.#flushLater();
    conn.send(`{"t":"${this.#owed}","a":${a}}`);
    this.#owed = undefined;
    this.#acked = a;
  }

  /** Waits for the socket to drain; whatever arrives meanwhile joins one larger batch. */
  #flushLater(): void {
    this.#flushQueued = true;
    this.#flushTimer = this.#env.setTimeout(() => this.#flush(), 5);
  }

  #scheduleAck(): void {
    if (ackIsUrgent(this.#received, this.#acked)) return this.#oweAck();
    if (this.#ackTimer === undefined) this.#ackTimer = this.#env.setTimeout(() => this.#oweAck(), this.#ackDelay);
  }

  #oweAck(): void {
    this.#env.clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#owed ??= 'ack'; // a pong owed carries it already
    this.#scheduleFlush();
  }

  /**
   * The server may now drop what this client acknowledged, so a saved session must not resume
   * from before it. Only a queue with messages is saved; with none, the next page needs no resume.
   */
  #persistAck(): void {
    if (this.#outbox.items.length && !this.#writing.length && this.#written < this.#received) this.#persist();
  }

  // ---- events ----

  #setState(event: StateEvent): void {
    const from = this.state;
    const to = nextState(from, event);
    if (to === from) return;
    this.state = to;
    this.#emit('state', { from, to });
  }

  #emit<K extends keyof RealtimeEventMap>(type: K, detail: RealtimeEventMap[K]): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function invalid(message: string): RealtimeError {
  return new RealtimeError('invalid-argument', message);
}

/** The item called `name` among those this build includes, or an error naming them. */
function named<T extends { name: string }>(option: string, name: unknown, available: T[]): T {
  const found = available.find((a) => a.name === name);
  if (!found) throw invalid(`unknown ${option} ${name}: import it, or use ${available.map((a) => a.name)}`);
  return found;
}

/** What `text` holds as JSON, or the text itself when it is not JSON (plain mode sends strings as they are). */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function reject(code: ErrorCode, message: string, data: unknown, cause?: unknown): Promise<never> {
  return Promise.reject(new RealtimeError(code, message, { data, cause }));
}
