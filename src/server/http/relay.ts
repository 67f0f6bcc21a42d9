import { randomBytes } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { LinkDirectory } from '../state/types';
import type { BodyBudget, BodyOutcome } from './body';
import type { HttpLink } from './link';
import { bearer, reply, responderFor, type AnswerTiming, type Responder } from './respond';

/**
 * With several processes behind a load balancer (a cluster), the client's POSTs and polls for
 * an HTTP link reach any of them, while the link lives in the one whose response carries it
 * (docs/protocol.md, "Server clusters"). The process a request reaches reads its body, within
 * its own bounds, and relays it to the holder, which handles it as its own and relays the answer
 * back. A holder that died never answers: the request gets 404 and the client, as after any
 * link drop, reconnects and resumes.
 */

/** What the relay needs from the HTTP transports. */
export interface RelayHost {
  /** The link this process holds, by id. */
  link(id: string): HttpLink | undefined;
  /** Whether a POST (or poll) for `l` is in progress: then `responder` got 429. */
  busy(l: HttpLink, wait: number | undefined, responder: Responder): boolean;
  /** Handles a POST for a link this process holds. */
  take(
    l: HttpLink,
    responder: Responder,
    wait: number | undefined,
    token: string | undefined,
    outcome: Promise<BodyOutcome>,
    release: () => void,
  ): void;
  readonly bodies: BodyBudget;
  readonly bodyLimit: number;
  readonly options: { readonly requestTimeout: number; readonly pollTimeout: number };
  reportError(error: unknown, context: string): void;
}

/** Between processes (JSON on the holder's channel). */
type Envelope =
  /** A request for a link the receiver holds: its body (base64), or why there is none. */
  | {
      t: 'post';
      from: string;
      id: string;
      link: string;
      wait?: number;
      token?: string;
      body?: string;
      outcome?: BodyOutcome;
    }
  /** The holder's answer. */
  | { t: 'reply'; id: string; status: number; headers: OutgoingHttpHeaders; body: string; when?: AnswerTiming }
  /** The holder cut the request (a refused body): close the connection. */
  | { t: 'cut'; id: string }
  /** The client of a relayed request went away (an aborted poll). */
  | { t: 'gone'; id: string };

/** Beyond what the holder may take (the poll's wait, the body's handling), the extra it gets to answer. */
const RELAY_GRACE_MS = 5000;
/** How often a process with relayed requests pending asks whether their holders still run. */
const HOLDER_CHECK_MS = 1000;

export class Relay {
  /** Requests this process relayed, waiting for the holder's answer. */
  readonly #pending = new Map<string, { responder: Responder; timer: ReturnType<typeof setTimeout>; holder: string }>();
  /** While requests are pending: asks whether their holders still run. */
  #watch: ReturnType<typeof setInterval> | null = null;
  /** On the holder: what to do when the client of a relayed request goes away. */
  readonly #gone = new Map<string, () => void>();
  /**
   * On the holder: the relayed requests taken, by id, with when their relayer gives up on them.
   * A PUBLISH whose reply was lost is published again after a reconnect (ioredis resends it), so
   * the same request may arrive twice; handled twice, a hello would end its session (4400
   * 'duplicate hello'), and a copy arriving while the first is handled would be answered 429.
   */
  readonly #taken = new Map<string, number>();

  constructor(
    private readonly directory: LinkDirectory,
    private readonly host: RelayHost,
  ) {}

  /** A request for link `id`, which this process does not hold. */
  async forward(req: IncomingMessage, res: ServerResponse, id: string, wait: number | undefined): Promise<void> {
    const responder = responderFor(res);
    let holder: string | undefined;
    try {
      holder = await this.directory.holder(id);
    } catch (err) {
      this.host.reportError(err, 'link directory');
      return reply(responder, 503, 'session store unavailable', { 'Retry-After': '1' });
    }
    if (!holder || holder === this.directory.node) return reply(responder, 404, 'unknown link');
    const body = this.host.bodies.read(req, this.host.bodyLimit, this.host.options.requestTimeout);
    const got = await body.outcome;
    if (got === 'aborted') return;
    const rid = randomBytes(12).toString('base64url');
    const envelope: Envelope = {
      t: 'post',
      from: this.directory.node,
      id: rid,
      link: id,
      wait,
      token: bearer(req),
      ...(Buffer.isBuffer(got) ? { body: got.toString('base64') } : { outcome: got }),
    };
    body.release();
    const bound = this.#bound(wait);
    const timer = setTimeout(() => {
      // No answer: its holder died (and with it the link). The client reconnects, as after a link drop.
      this.#pending.delete(rid);
      reply(responder, 404, 'link ended');
    }, bound);
    timer.unref?.();
    this.#pending.set(rid, { responder, timer, holder });
    this.#watchHolders();
    responder.onClose(() => {
      // Gone before the holder answered: tell it (a held poll is then over there too).
      if (!this.#settle(rid)) return;
      void this.#send(holder, { t: 'gone', id: rid });
    });
    if (!(await this.#send(holder, envelope))) {
      this.#settle(rid);
      reply(responder, 503, 'session store unavailable', { 'Retry-After': '1' });
    }
  }

  /** A message from another process. */
  received(message: string): void {
    let m: Envelope;
    try {
      m = JSON.parse(message) as Envelope;
    } catch (err) {
      return this.host.reportError(err, 'relay');
    }
    switch (m.t) {
      case 'post': {
        const now = Date.now();
        // In arrival order, so nearly in expiry order: stop at the first still current.
        for (const [id, until] of this.#taken) {
          if (until >= now) break;
          this.#taken.delete(id);
        }
        if (this.#taken.has(m.id)) return; // published again: handled already
        this.#taken.set(m.id, now + this.#bound(m.wait));
        return this.#take(m);
      }
      case 'reply': {
        const p = this.#settle(m.id);
        if (p && !p.done) p.answer(m.status, m.headers, m.body, m.when);
        return;
      }
      case 'cut':
        return this.#settle(m.id)?.cut();
      case 'gone': {
        const fn = this.#gone.get(m.id);
        this.#gone.delete(m.id);
        return fn?.();
      }
    }
  }

  /** A request relayed here for a link this process holds: handled as its own, the answer relayed back. */
  #take(m: Extract<Envelope, { t: 'post' }>): void {
    let done = false;
    const closed: Array<() => void> = [];
    const over = (): void => {
      this.#gone.delete(m.id);
      for (const fn of closed.splice(0)) fn();
    };
    const back = (e: Envelope): void => {
      if (done) return;
      done = true;
      void this.#send(m.from, e);
      over();
    };
    this.#gone.set(m.id, () => {
      done = true;
      over();
    });
    const responder: Responder = {
      get done() {
        return done;
      },
      answer: (status, headers, body, when) => back({ t: 'reply', id: m.id, status, headers, body, when }),
      cut: () => back({ t: 'cut', id: m.id }),
      onClose: (fn) => void closed.push(fn),
    };
    const l = this.host.link(m.link);
    if (!l) return reply(responder, 404, 'link ended');
    if (m.wait !== undefined && !l.polls) return reply(responder, 400, 'wait is for long-poll links only');
    if (this.host.busy(l, m.wait, responder)) return;
    const outcome: BodyOutcome = m.body !== undefined ? Buffer.from(m.body, 'base64') : m.outcome!;
    this.host.take(l, responder, m.wait, m.token, Promise.resolve(outcome), () => {});
  }

  /**
   * A holder that died never answers: rather than wait out the request's whole bound (up to a
   * minute for a held poll), its requests get 404 as soon as the directory no longer sees it
   * running, and their clients reconnect at once. A failed check proves nothing: they wait on.
   */
  #watchHolders(): void {
    if (this.#watch) return;
    this.#watch = setInterval(() => {
      if (this.#pending.size === 0) {
        clearInterval(this.#watch!);
        this.#watch = null;
        return;
      }
      const holders = new Set([...this.#pending.values()].map((p) => p.holder));
      for (const holder of holders) {
        void this.directory.alive(holder).then(
          (alive) => {
            if (alive) return;
            for (const [rid, p] of this.#pending)
              if (p.holder === holder && this.#settle(rid)) reply(p.responder, 404, 'link ended');
          },
          () => {},
        );
      }
    }, HOLDER_CHECK_MS);
    this.#watch.unref?.();
  }

  /** How long the relayer of a request waits for the holder's answer. */
  #bound(wait: number | undefined): number {
    const { requestTimeout, pollTimeout } = this.host.options;
    return requestTimeout + (wait === undefined ? 0 : Math.min(wait, pollTimeout)) + RELAY_GRACE_MS;
  }

  /** The pending relayed request `id`, now settled: its responder, or undefined if it was already. */
  #settle(id: string): Responder | undefined {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    return p.responder;
  }

  async #send(node: string, e: Envelope): Promise<boolean> {
    try {
      await this.directory.send(node, JSON.stringify(e));
      return true;
    } catch (err) {
      this.host.reportError(err, 'relay');
      return false;
    }
  }
}
