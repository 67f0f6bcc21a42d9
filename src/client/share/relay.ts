import { utf8Length } from '../../protocol';
import { parsed, type Endpoint, type EndpointHost } from '../endpoint';
import type { Env } from '../env';
import type { Outbox, Pending } from '../queue';
import type { Connection } from '../transports/types';
import type { Mirror, TabMessage } from './channel';
import { Followers, type Standing } from './followers';
import { SendGate } from './gate';

/**
 * Server messages the leader keeps for a tab that relinks (after a leader change, or its link
 * dropping) and missed what went out meanwhile: the server no longer has what the leader
 * acknowledged. A tab further behind is told its messages were lost.
 */
const KEPT = 1024;

/** What the relay needs from the tab it runs in. */
export interface RelayHost {
  readonly tab: string;
  readonly url: string;
  readonly env: Env;
  /** Whether this tab holds the connection now. */
  readonly leading: boolean;
  readonly transport: string | null;
  /** The server session this tab's messages belonged to while it followed. */
  readonly session: string | null;
  post(m: TabMessage): void;
}

/**
 * The leader's side of sharing, composed around the client's own endpoint: while this tab leads,
 * every server message is passed on, every follower message joins the one outbox (see
 * Followers), nothing goes to the server before every tab recorded it (see SendGate), and nothing
 * is acknowledged to the server before every tab has it; while it follows, all of this stands
 * still. It keeps what a successor needs, and the last server messages for tabs behind.
 */
export class Relay {
  readonly #gate: SendGate;
  readonly #followers: Followers;
  /** The server session held, the highest server seq received here, the server's frame limit, the last messages (see KEPT). */
  readonly #at: Standing = { sid: undefined, received: 0, serverMax: 1 << 20, kept: [] };
  /** The highest server seq acknowledged, and client seq acknowledged, that every tab was told. */
  #postedAck = 0;
  #postedOut = 0;
  /** Server messages delivered during the frame being read, passed on when it is done. */
  #batch: unknown[] = [];
  #batchStart = 0;
  /** The client's endpoint and its host, which the relay wraps. */
  #inner: Endpoint | undefined;
  #client: EndpointHost | undefined;

  constructor(
    private readonly host: RelayHost,
    private readonly outbox: Outbox,
  ) {
    const flushSoon = () => this.#client?.flushSoon();
    this.#gate = new SendGate({ tab: host.tab, env: host.env, post: (m) => host.post(m), flushSoon }, outbox);
    this.#followers = new Followers(host, this.#at, outbox, this.#gate, {
      postState: () => this.#state(),
      ackReleased: () => this.#inner?.ackReleased(),
      flushSoon,
    });
  }

  /** The client's endpoint host, seen through the relay. */
  endpointHost(h: EndpointHost): EndpointHost {
    this.#client = h;
    const leading = () => this.host.leading;
    return {
      env: h.env,
      outbox: h.outbox,
      get state() {
        return h.state;
      },
      opened: (deadline, resumed) => {
        if (leading()) this.#opened();
        h.opened(deadline, resumed);
      },
      deliver: (data, seq) => {
        if (seq !== undefined) {
          if (leading()) {
            if (!this.#batch.length) this.#batchStart = seq;
            this.#batch.push(data);
            this.#at.received = seq;
          }
          // Kept by followers too: a tab that takes over resumes from its own position, and
          // gives a tab behind it what the server no longer has.
          const kept = this.#at.kept;
          if (seq > (kept.at(-1)?.[0] ?? 0)) kept.push([seq, data]);
          if (kept.length > KEPT) kept.splice(0, kept.length - KEPT);
        }
        h.deliver(data, seq);
      },
      error: (e) => h.error(e),
      refuse: (code, message, closeCode) => h.refuse(code, message, closeCode),
      closed: (code, reason) => h.closed(code, reason),
      flushSoon: () => h.flushSoon(),
      ackable: (received) => {
        const a = h.ackable(received);
        return leading() ? this.#ackable(a) : a;
      },
    };
  }

  /** The client's endpoint, seen through the relay. */
  endpoint(inner: Endpoint): Endpoint {
    this.#inner = inner;
    const leading = () => this.host.leading;
    return {
      resumable: inner.resumable,
      context: inner.context,
      serialize: (data) => inner.serialize(data),
      tooLarge: (bytes) => inner.tooLarge(bytes),
      credentials: () => inner.credentials(),
      connected: (conn, token) => inner.connected(conn, token),
      frame: (text) => {
        if (!leading()) return inner.frame(text);
        // The server's limit, for the followers' welcome (sent as the server wrote it: t first).
        if (text.startsWith('{"t":"welcome"')) {
          const max = (parsed(text) as { max?: unknown }).max;
          if (typeof max === 'number') this.#at.serverMax = max;
        }
        inner.frame(text);
        this.#passOn();
      },
      protocolError: (what) => inner.protocolError(what),
      flush: (conn: Connection) =>
        leading() ? this.#gate.flush(inner, conn, this.#followers.tabs()) : inner.flush(conn),
      disconnected: () => {
        inner.disconnected();
        if (this.#followers.closed()) this.host.post({ t: 'down', tab: this.host.tab });
      },
      reset: () => inner.reset(),
      snapshot: () => inner.snapshot(),
      restore: (s) => inner.restore(s),
      ackReleased: () => inner.ackReleased(),
    };
  }

  /** What followers say to the leader. */
  take(m: TabMessage): void {
    this.#followers.take(m);
  }

  /**
   * This tab takes the connection over: the session the last leader announced, resumed from what
   * this tab received (the last leader acknowledged no more than this tab had, so the server
   * still has everything after; tabs further behind get the rest from what this tab kept). What
   * the last leader handed the server and was not acknowledged goes first, with its seqs, then
   * what this tab had queued itself. Other followers send the rest again.
   */
  takeOver(mirror: Mirror, endpoint: Endpoint): void {
    const own = endpoint.snapshot();
    const outbox = this.outbox;
    const session = mirror.session;
    if (!session) {
      // Nothing to resume: a new session, with this tab's messages, none of them sent yet.
      endpoint.reset();
      outbox.sent = 0;
      outbox.restart();
      return;
    }
    const gate = this.#gate;
    const followers = this.#followers;
    // This tab's own messages keep the numbers it gave them as a follower, which the other tabs
    // know them by (see SendGate.stepDown()); its next ones are numbered after them.
    gate.ownFrom(outbox.nextSeq - 1);
    const mine = outbox.take();
    for (const p of mine) gate.own(p, this.host.tab, p.seq);
    const earlier: Pending[] = [];
    for (const [seq, tab, local, json] of mirror.pending()) {
      const p = tab === this.host.tab ? mine.find((q) => q.seq === local) : undefined;
      if (p) mine.splice(mine.indexOf(p), 1);
      const item: Pending = p ?? {
        seq,
        json,
        bytes: utf8Length(json),
        data: parsed(json),
        resolve: () => followers.acknowledged(tab, local),
        reject: () => {},
      };
      item.seq = seq;
      gate.own(item, tab, local);
      earlier.push(item);
      followers.had(tab, local);
    }
    for (const [tab, local] of mirror.tabAcked) followers.had(tab, local, local);
    // Two adoptions: this tab's own messages back in (numbered after nothing), then the sent ones
    // ahead of them, which numbers this tab's own after the last sent.
    outbox.adopt(mine, 0);
    outbox.adopt(earlier, earlier.at(-1)?.seq ?? mirror.out);
    // Its own position counts only in the session it was linked to.
    const from = own.sid && this.host.session === session.sid ? own.a : mirror.acked;
    this.#at.sid = session.sid;
    endpoint.restore({ ...session, a: from });
    this.#at.received = from;
    this.#postedAck = mirror.acked;
    this.#postedOut = mirror.out;
  }

  /**
   * This tab lets another one hold the connection (its page is frozen, or its lock was taken)
   * and follows: what it knew as the leader goes, and its outbox goes back to its own numbering
   * (see SendGate.stepDown()).
   */
  stepDown(): void {
    this.#gate.stepDown();
    this.#followers.follow();
    this.#batch = [];
  }

  /** The client stopped: nothing of this run is kept. */
  reset(): void {
    this.#gate.reset();
    this.#followers.follow();
    this.#batch = [];
    this.#at.kept.length = 0;
    this.#at.received = this.#postedAck = this.#postedOut = 0;
    this.#at.sid = undefined;
  }

  /** Whether any follower is linked: then closing this tab hands the session over instead of ending it. */
  get followed(): boolean {
    return this.#followers.followed;
  }

  #opened(): void {
    const { sid, key } = this.#inner!.snapshot();
    const at = this.#at;
    if (at.sid !== sid) {
      // Another session (the last one could not be resumed): what the tabs had of the last one
      // means nothing in it. Each tab relinks, and hears that its messages may be lost.
      at.kept.length = 0;
      this.#followers.newSession();
      at.received = this.#postedAck = this.#postedOut = 0;
      at.sid = sid;
    }
    if (sid && key) this.host.post({ t: 'session', sid, key });
    this.host.post({ t: 'ready', tab: this.host.tab });
    this.#followers.opened();
  }

  /** Everything a successor needs so far, for a tab joining now (the others take it again, harmlessly). */
  #state(): void {
    const { sid, key } = this.#inner!.snapshot();
    if (!sid || !key) return;
    const outbox = this.outbox;
    const sent = outbox.items.filter((p) => p.seq <= outbox.sent);
    this.host.post({
      t: 'state',
      sid,
      key,
      acked: this.#postedAck,
      out: this.#postedOut,
      items: this.#gate.items(sent),
      tabs: this.#followers.acks(false),
    });
  }

  /** Passes on what the frame just read delivered and acknowledged. */
  #passOn(): void {
    if (this.#batch.length) {
      this.host.post({ t: 'msg', text: JSON.stringify({ t: 'msg', s: this.#batchStart, d: this.#batch }) });
      this.#batch = [];
    }
    const first = this.outbox.items[0];
    const out = (first ? first.seq : this.outbox.nextSeq) - 1;
    const acks = this.#followers.acks(true);
    if (out > this.#postedOut || Object.keys(acks).length) {
      this.#postedOut = Math.max(out, this.#postedOut);
      this.host.post({ t: 'acks', s: this.#postedOut, tabs: acks });
    }
  }

  /** No ack to the server past what every follower has; every tab learns how far it went, before the server does. */
  #ackable(a: number): number {
    a = this.#followers.slowest(a);
    if (a > this.#postedAck) {
      this.#postedAck = a;
      this.host.post({ t: 'acked', a });
    }
    return a;
  }
}
