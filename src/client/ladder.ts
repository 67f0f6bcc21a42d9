import { CloseCode, utf8Length } from '../protocol';
import type { Endpoint } from './endpoint';
import type { Env } from './env';
import { RealtimeError, type ErrorCode } from './errors';
import { Watchdog } from './heartbeat';
import type { Emit } from './events';
import { decide, type Outcome, type ReconnectOptions } from './retry';
import { AttemptRecord } from './attempts';
import { Race, type Racer } from './race';
import type { ConnectionState, StateEvent } from './state';
import type { Connection, OpenContext, Transport } from './transports/types';
import type { Prober, UpgradeProbes } from './upgrade';

/** What the ladder needs from the client. */
export interface LadderHost {
  readonly state: ConnectionState;
  setState(event: StateEvent): void;
  readonly emit: Emit;
  /** Ends the client: no transport works, or the server or the retry policy said stop. */
  finish(detail: { code: number; reason: string; willReconnect: false }, error: RealtimeError): void;
  /** The connection is gone (or replaced): whatever was tied to it stops. */
  disconnected(): void;
}

export interface LadderOptions {
  url: string;
  env: Env;
  transports: Transport[];
  reconnect: ReconnectOptions | false;
  /** heartbeat.timeout: also bounds an attempt, from its start to the session opening. */
  timeout: number;
  /** fallbackAfter: how long a transport may take to open before the next one starts alongside it. */
  fallbackAfter: number;
  /** reconnect.resetAfter */
  resetAfter: number;
  /** maxFrameSize */
  maxFrame: number;
  probeInterval: number;
  upgrade: UpgradeProbes | undefined;
  /** Whether the network is known to be down: then no attempt is spent until retryNow(). */
  offline: () => boolean;
}

/**
 * Which transport carries the session, and what follows when one fails: the usable transports in
 * order of preference, raced within an attempt (see {@link Race}), backoff between attempts.
 * When `upgrade` is given, it says which transport a run starts from (the one an earlier page
 * fell back to) and probes the first one after a fallback.
 * What to do after a loss is decided by {@link decide}; this class carries it out. Each attempt
 * has an id and a race of its own: callbacks of an older attempt, or of a transport that lost the
 * race, are ignored.
 */
export class Ladder {
  /** Between attempts: waiting out the backoff, or for the network or the page to come back. */
  #phase: 'idle' | 'attempting' | 'waiting' = 'idle';
  #usable: Transport[] = [];
  /** The current attempt's transport (the winner, or the last one started), and the next attempt's first. */
  #index = 0;
  #best = 0;
  readonly #record: AttemptRecord;
  #attemptId = 0;
  /** The current attempt's transports, and the one that opened first. */
  #race: Race | null = null;
  #winner: Racer | null = null;
  #transport: string | null = null;
  #retryTimer: unknown;
  readonly #watchdog: Watchdog;
  readonly #prober: Prober | undefined;

  constructor(
    private readonly o: LadderOptions,
    private readonly endpoint: Endpoint,
    private readonly host: LadderHost,
  ) {
    this.#record = new AttemptRecord(o.env, o.resetAfter);
    // Before the session opens the same watchdog bounds the attempt: say which of the two ran out.
    this.#watchdog = new Watchdog(o.env, () =>
      this.drop(
        CloseCode.TIMEOUT,
        this.host.state === 'open'
          ? 'heartbeat timeout'
          : `handshake timeout: no answer from the server within ${o.timeout} ms (heartbeat.timeout)`,
      ),
    );
    this.#prober = o.upgrade?.attach({
      url: o.url,
      env: o.env,
      interval: o.probeInterval,
      timeout: o.timeout,
      // No token: a probe only checks that the transport opens, and sends nothing (no hello).
      // The attempt that follows a successful probe asks auth() and authenticates as usual.
      context: () => this.#context(undefined),
      upgrade: () => {
        this.leave('upgrade');
        void this.#open(0);
      },
    });
  }

  /** The transport carrying the current connection, or the last one, or null before any. */
  get transport(): string | null {
    return this.#transport;
  }

  get connection(): Connection | null {
    return this.#winner?.conn ?? null;
  }

  /** Starts a run of attempts, from the transport remembered as working here. */
  start(): void {
    const { env, transports } = this.o;
    this.#record.reset();
    this.#usable = transports.filter((t) => t.isSupported(env));
    if (!this.#usable.length)
      return this.host.finish(
        { code: CloseCode.ABNORMAL, reason: 'no supported transport', willReconnect: false },
        new RealtimeError(
          'unsupported',
          `No transport of ${transports.map((t) => t.name).join(',')} works here: add one, or pass its global in options.env`,
        ),
      );
    this.#best = this.#prober?.start(this.#usable) ?? 0;
    void this.#open(this.#best);
  }

  /** The session opened: watch it with `deadline` (0: not at all), and remember what worked. */
  opened(deadline: number): void {
    if (deadline) this.#watchdog.start(deadline);
    else this.#watchdog.stop();
    this.#record.opened();
    this.#best = this.#index;
    this.#prober?.opened(this.#index, this.endpoint.resumable);
  }

  /** Checks liveness now: a page that was hidden or frozen may have missed its timers. */
  check(): void {
    this.#watchdog.check();
  }

  /** While waiting between attempts, attempts at once (the network or the page is back). */
  retryNow(): void {
    if (this.#phase !== 'waiting') return;
    this.o.env.clearTimeout(this.#retryTimer);
    void this.#open(this.#best);
  }

  /**
   * Ends the current connection from this side: closes it with `code`, then handles the loss as
   * `outcome` (a bad frame is our verdict, not the server's "do not reconnect", so it resumes).
   */
  drop(code: number, reason: string, outcome = code): void {
    this.#stop(code, reason);
    this.#lost({ code: outcome, reason, fallback: this.host.state === 'open' ? undefined : this.#index + 1 });
  }

  /** Reports a server frame we will not take, then replaces the connection. */
  refuse(code: ErrorCode, message: string, closeCode: number): void {
    this.host.emit('error', new RealtimeError(code, message));
    this.drop(closeCode, code, CloseCode.ABNORMAL);
  }

  /** Lets the connection go but keeps the session, for the next attempt to resume; waits for retryNow() or an upgrade. */
  leave(reason: string): void {
    this.#stop(CloseCode.SWITCHING, reason);
    this.#dropped(CloseCode.SWITCHING, reason);
    this.#phase = 'waiting';
  }

  /** Stops for good (close()): closes the connection with `code`, and nothing is attempted any more. */
  stop(code: number, reason: string): void {
    this.#stop(code, reason);
    this.#phase = 'idle';
  }

  async #open(from: number): Promise<void> {
    const id = ++this.#attemptId;
    this.#phase = 'attempting';
    this.#index = from;
    // The watchdog also bounds the attempt itself: a connect that hangs is a failed connect.
    this.#watchdog.start(this.o.timeout);
    let token: string | undefined;
    const credentials = this.endpoint.credentials();
    if (credentials) {
      try {
        token = await credentials;
      } catch (cause) {
        if (id !== this.#attemptId) return;
        this.host.emit('error', new RealtimeError('unauthorized', 'auth() failed; retrying', { cause }));
        return this.#lost({ code: CloseCode.UNAUTHORIZED, reason: 'auth callback failed', fallback: from + 1 });
      }
      if (id !== this.#attemptId) return;
    }
    const { env, fallbackAfter, url } = this.o;
    this.#race = new Race(env, fallbackAfter, this.#usable.length, from, {
      open: (index, handlers) => {
        // A transport that carries the token itself gets it here; the others send it in hello.
        const transport = this.#usable[(this.#index = index)]!;
        return transport.open(url, handlers, this.#context(transport.auth === 'header' ? token : undefined));
      },
      won: (racer) => {
        const transport = this.#usable[(this.#index = racer.index)]!;
        this.#winner = racer;
        if (this.#transport !== transport.name)
          this.host.emit('transport', { from: this.#transport, to: transport.name });
        this.#transport = transport.name;
        this.#watchdog.touch();
        this.endpoint.connected(racer.conn!, transport.auth === 'header' ? undefined : token);
      },
      frame: (text) => this.#frame(text),
      protocolError: (what) => this.endpoint.protocolError(what),
      closed: (racer, code, reason, retryAfter) => {
        // A connection dropped (1006) before it proved stable counts as failing to open, as a
        // proxy that accepts WebSocket upgrades and then kills them does: move on to the next.
        const unproven = this.host.state !== 'open' || (code === CloseCode.ABNORMAL && this.#record.recent);
        // The next to try at once: after the winner, the one after it; before, the first not started.
        const next = racer === this.#winner ? racer.index + 1 : this.#race!.next;
        // A server that says when to come back is busy, not broken: no fallback, wait as told.
        const fallback = unproven && retryAfter === undefined ? next : undefined;
        this.#lost({ code, reason, retryAfter, fallback }, racer);
      },
    });
    this.#race.startNext();
  }

  #context(token: string | undefined): OpenContext {
    const { env, maxFrame, timeout } = this.o;
    return { env, maxFrame, timeout, ...this.endpoint.context, token };
  }

  #frame(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only a long text needs counting.
    const max = this.o.maxFrame;
    const bytes = text.length * 3 > max ? utf8Length(text) : 0;
    if (bytes > max)
      return this.refuse(
        'message-too-large',
        `Server frame of ${bytes} B > maxFrameSize (${max} B): raise it, or have the server send smaller messages; reconnecting`,
        CloseCode.TOO_LARGE,
      );
    this.#watchdog.touch();
    this.endpoint.frame(text);
  }

  /**
   * A connection (`racer`'s, when a transport ended it) is gone: let the attempt's other transports
   * go on, start the next at once, wait and attempt again, or give up, as {@link decide} says.
   */
  #lost(o: Outcome, racer?: Racer): void {
    const { host } = this;
    const race = this.#race;
    if (host.state === 'closed') return this.#stop();
    const { code, reason } = o;
    const record = this.#record;
    record.ended(o, this.#usable[racer?.index ?? this.#index]!.name, host.state === 'open');
    // The attempt's race, while none of its transports has opened.
    const racing = this.#winner ? null : race;
    const state = { ...record.state, transports: this.#usable.length, best: this.#best, racing: racing?.racing ?? 0 };
    const d = decide(o, state, this.o.reconnect, this.o.env.random);
    // No transport of this attempt has opened yet: the others go on (decide says race-on only
    // while some still try), and the next starts now.
    if (d.kind === 'race-on' || (racing && d.kind === 'fallback')) {
      host.emit('close', { code, reason, willReconnect: true });
      if (d.kind === 'fallback') racing?.startNext();
      return;
    }
    this.#stop();
    if (d.kind === 'give-up') return host.finish({ code, reason, willReconnect: false }, d.error);
    if (d.kind === 'fallback') {
      host.emit('close', { code, reason, willReconnect: true });
      if (host.state === 'open') host.setState('dropped');
      return void this.#open(d.to);
    }
    this.#best = d.from;
    this.#dropped(code, reason);
    const failed = record.failedToConnect(code);
    if (failed) host.emit('error', failed);
    this.#phase = 'waiting';
    if (this.o.offline()) return; // retryNow() comes with the network; offline time burns no attempts
    host.emit('reconnecting', { attempt: record.next(), delay: d.delay });
    this.#retryTimer = this.o.env.setTimeout(() => void this.#open(this.#best), d.delay);
  }

  /** Reports a lost connection that will be replaced. */
  #dropped(code: number, reason: string): void {
    this.host.emit('close', { code, reason, willReconnect: true });
    this.host.setState('dropped');
  }

  /** Stops everything tied to the current attempt; its transports still open are closed with `code`. */
  #stop(code: number = CloseCode.NORMAL, reason = 'attempt over'): void {
    this.#attemptId++;
    const race = this.#race;
    this.#race = this.#winner = null;
    race?.end(code, reason);
    this.#watchdog.stop();
    this.o.env.clearTimeout(this.#retryTimer);
    this.#record.stop();
    this.#prober?.stop();
    this.host.disconnected();
  }
}
