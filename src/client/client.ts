import { CloseCode } from '../protocol';
import type { Endpoint, EndpointHost } from './endpoint';
import type { Env } from './env';
import { RealtimeError } from './errors';
import type { Emit, RealtimeEventMap } from './events';
import { ownConnection, type Carrier } from './carrier';
import { Ladder, type LadderHost } from './ladder';
import { Listeners } from './listeners';
import type { PageWatch } from './lifecycle';
import { configure, type ClientOptions, type Defaults, type SendOptions } from './options';
import type { PersistedQueue } from './persisted-queue';
import { Outbox } from './queue';
import { Sender } from './sender';
import { nextState, type ConnectionState, type StateEvent } from './state';

/**
 * One client over any transport. It is an EventTarget: `on()` is the typed shortcut, and
 * `addEventListener` receives CustomEvents whose `detail` is what `on()` passes (after the
 * listeners of `on()`, which are called without an event object).
 *
 * A facade over its parts, each chosen at construction: the endpoint (protocol v1 or plain mode),
 * the ladder (transports, fallback, backoff, upgrade probes), the outbox, and when given, the page
 * lifecycle and the persisted queue. It owns the state, the events and the writing of the outbox.
 */
export class RealtimeClient<In = unknown, Out = unknown> extends EventTarget {
  readonly url: string;
  #state: ConnectionState = 'closed';
  readonly #env: Env;
  readonly #outbox: Outbox;
  readonly #endpoint: Endpoint;
  readonly #ladder: Carrier;
  readonly #page: PageWatch | undefined;
  readonly #persisted: PersistedQueue | undefined;
  readonly #sender: Sender;
  readonly #listeners = new Listeners();
  /** The event types someone listens to with addEventListener: only those are dispatched as CustomEvents. */
  readonly #targeted = new Set<string>();
  /** Bumped by connect() and when the client closes: a run's late steps find it changed and stop. */
  #run = 0;

  /** `defaults` is what the entry point adds: 'realtime-client' gives every transport, storage and part. */
  constructor(url: string, options: ClientOptions = {}, defaults: Defaults = {}) {
    super();
    this.url = url;
    const c = configure(url, options, defaults);
    const env = (this.#env = c.env);
    const emit: Emit = (type, detail) => this.#emit(type, detail);
    const outbox = (this.#outbox = new Outbox(c.queue, () => this.#persisted?.changed()));
    const state = () => this.#state;
    const endpointHost: EndpointHost = {
      env,
      outbox,
      get state() {
        return state();
      },
      opened: (deadline, resumed) => this.#opened(deadline, resumed),
      deliver: (data) => emit('message', data),
      error: (e) => emit('error', e),
      refuse: (code, message, closeCode) => ladder.refuse(code, message, closeCode),
      closed: (code, reason) => ladder.drop(code, reason),
      flushSoon: () => this.#sender.schedule(),
      ackable: (received) => this.#persisted?.ackable(received) ?? received,
    };
    const ladderHost: LadderHost = {
      get state() {
        return state();
      },
      setState: (event) => this.#setState(event),
      emit,
      finish: (detail, error) => this.#finish(detail, error),
      disconnected: () => {
        endpoint.disconnected();
        this.#sender.stop();
      },
    };
    const offline = () => this.#page?.offline() ?? false;
    const { endpoint, carrier: ladder } = (c.share ?? ownConnection).attach({
      url,
      config: c,
      endpointHost,
      ladderHost,
      ladder: (endpoint, transports = c.transports, host = ladderHost, reconnect = c.reconnect) =>
        new Ladder(
          { ...c, url, offline, transports, reconnect, upgrade: transports === c.transports ? c.upgrade : undefined },
          endpoint,
          host,
        ),
      ownQueue: async (restore, steal) => {
        const run = this.#run;
        await this.#persisted?.own(() => run === this.#run, restore, steal);
      },
      releaseQueue: (save) => this.#persisted?.release(save),
    });
    this.#endpoint = endpoint;
    this.#ladder = ladder;
    this.#sender = new Sender(env, outbox, endpoint, {
      get state() {
        return state();
      },
      get connection() {
        return ladder.connection;
      },
    });
    this.#page = c.lifecycle?.attach({
      env,
      get state() {
        return state();
      },
      check: () => ladder.check(),
      retryNow: () => ladder.retryNow(),
      leave: (reason) => ladder.leave(reason),
    });
    this.#persisted = c.storage?.attach({
      url,
      env,
      outbox,
      endpoint,
      error: (e) => emit('error', e),
      expire: (p) => this.#sender.expire(p),
    });
    if (c.autoConnect) this.connect();
  }

  /** 'connecting' | 'open' | 'reconnecting' | 'closed'; each change is a 'state' event. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The transport carrying the current connection, or the last one, or null before any. */
  get transport(): string | null {
    return this.#ladder.transport;
  }

  /** Subscribes to an event; returns a function that unsubscribes (safe to call twice). */
  on<K extends keyof RealtimeEventMap<In>>(type: K, listener: (detail: RealtimeEventMap<In>[K]) => void): () => void {
    return this.#listeners.add(type, listener);
  }

  /** Typed for the client's events; any other string still type-checks as on every EventTarget. */
  override addEventListener<K extends keyof RealtimeEventMap<In>>(
    type: K,
    listener: ((event: CustomEvent<RealtimeEventMap<In>[K]>) => void) | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | ((event: CustomEvent) => void) | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    this.#targeted.add(type);
    super.addEventListener(type, listener as EventListenerOrEventListenerObject | null, options);
  }

  override removeEventListener<K extends keyof RealtimeEventMap<In>>(
    type: K,
    listener: ((event: CustomEvent<RealtimeEventMap<In>[K]>) => void) | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | ((event: CustomEvent) => void) | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener as EventListenerOrEventListenerObject | null, options);
  }

  /**
   * The next event of `type`, as a promise of what `on()` would pass: `await client.once('open')`.
   * Only events still to come: while `state` is already `'open'`, there is no next 'open' until
   * a reconnect, so check `state` first.
   */
  once<K extends keyof RealtimeEventMap<In>>(type: K): Promise<RealtimeEventMap<In>[K]> {
    return new Promise((resolve) => {
      const off = this.on(type, (detail) => {
        off();
        resolve(detail);
      });
    });
  }

  /**
   * Sends one message. Resolves when the server acknowledges it (v1) or when it is handed to
   * the transport (plain). While offline, it waits in the bounded queue.
   */
  send(data: Out, options: SendOptions = {}): Promise<void> {
    return this.#sender.send(data, options);
  }

  /** Starts connecting, if closed. The constructor calls it unless `autoConnect: false`. */
  connect(): void {
    if (this.#state !== 'closed') return;
    const run = ++this.#run;
    this.#page?.start();
    this.#setState('connect');
    // The first attempt starts in a microtask, so listeners added right after the constructor
    // see everything it reports; close() before then cancels it.
    queueMicrotask(() => void this.#begin(run));
  }

  async #begin(run: number): Promise<void> {
    const current = () => run === this.#run;
    if (!current()) return;
    if (this.#persisted && !this.#ladder.ownsQueue) {
      await this.#persisted.own(current);
      if (!current()) return;
    }
    this.#ladder.start();
  }

  /** Closes for good: no reconnect. Messages not yet acknowledged are rejected with 'closed'. */
  close(code: number = CloseCode.NORMAL, reason = 'client closed'): void {
    if (this.#state === 'closed') return;
    this.#ladder.stop(code, reason);
    this.#finish(
      { code, reason, willReconnect: false },
      new RealtimeError('closed', 'close() before the server acknowledged this'),
    );
  }

  /** The session is usable: as soon as the transport opens (plain), or on welcome (v1). */
  #opened(deadline: number, resumed: boolean): void {
    this.#ladder.opened(deadline);
    this.#setState('opened');
    this.#emit('open', { transport: this.#ladder.transport!, resumed });
    this.#sender.flush();
  }

  /** Ends in the closed state: every pending send() is rejected, never dropped silently. */
  #finish(detail: RealtimeEventMap['close'], error: RealtimeError): void {
    this.#run++;
    this.#page?.stop();
    const pending = this.#outbox.take();
    this.#outbox.restart();
    // Rejected below, so no later page may send them: the record goes, and the lock with it.
    this.#persisted?.release();
    this.#endpoint.reset();
    this.#setState('ended');
    this.#emit('close', detail);
    if (error.code !== 'closed') this.#emit('error', error);
    for (const p of pending)
      p.reject(new RealtimeError(error.code, error.message, { data: p.data, closeCode: error.closeCode }));
  }

  #setState(event: StateEvent): void {
    const from = this.#state;
    const to = nextState(from, event);
    if (to === from) return;
    this.#state = to;
    this.#emit('state', { from, to });
  }

  #emit<K extends keyof RealtimeEventMap>(type: K, detail: RealtimeEventMap[K]): void {
    this.#listeners.emit(type, detail);
    if (this.#targeted.has(type)) this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
