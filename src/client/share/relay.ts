import { decodeFrame, utf8Length } from '../../protocol';
import { parsed, type Endpoint, type EndpointHost } from '../endpoint';
import type { Env } from '../env';
import type { Outbox, Pending } from '../queue';
import type { Connection, ResumeState } from '../transports/types';
import type { Restore } from '../persisted-queue';
import type { Mirror, TabMessage } from './channel';
import { leftBehind } from './left-behind';

/** The ping interval announced to followers: the leader never pings them, and its death comes from the lock. */
const FOLLOWER_HB = 5 * 60_000;

/**
 * Server messages the leader keeps for a tab that relinks (after a leader change, or its link
 * dropping) and missed what went out meanwhile: the server no longer has what the leader
 * acknowledged. A tab further behind is told its messages were lost.
 */
const KEPT = 1024;

/**
 * How long messages wait for every follower to record them before they go out anyway, in ms: a
 * frozen tab must not stop the others (it would then resend, once, what went out meanwhile).
 */
const RECORD_WAIT = 1000;

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
 * The leader's side of sharing: a v1 server to the followers over the channel, and the keeper of
 * what a successor needs. Composed around the client's own endpoint: while this tab leads, every
 * server message is passed on, every follower message joins the one outbox, and nothing is
 * acknowledged to the server before every tab has it; while it follows, all of this stands still.
 */
export class Relay {
  /** Per follower: its highest server seq received (acks wait for the slowest), highest message taken, highest acknowledged. */
  readonly #positions = new Map<string, number>();
  readonly #seen = new Map<string, number>();
  readonly #tabAcked = new Map<string, number>();
  #ownLocal = 0;
  /** Highest server seq received here; the highest acknowledged, and client seq acknowledged, that every tab was told. */
  #received = 0;
  /** The server session of the connection this tab holds. */
  #sid: string | undefined;
  #postedAck = 0;
  #postedOut = 0;
  #serverMax = 1 << 20;
  #open = false;
  #joins: Array<Extract<TabMessage, { t: 'join' }>> = [];
  /** Server messages delivered during the frame being read, passed on when it is done. */
  #batch: unknown[] = [];
  #batchStart = 0;
  /** Per follower, the highest seq it recorded; when the leader began holding messages back for them. */
  readonly #have = new Map<string, number>();
  #holding: number | undefined;
  /** The seq each message was last announced with ('sent'). */
  #announced = new WeakMap<Pending, number>();
  /** The last server messages, for tabs that relink behind (see KEPT). */
  #kept: Array<[number, unknown]> = [];
  /** Tabs whose messages the server acknowledged during the frame being read. */
  #acks: Record<string, number> = {};
  #watch = new AbortController();
  readonly #watched = new Set<string>();
  /** Where an endpoint that numbers no messages resumes after each of the last ones (see KEPT), by seq. */
  readonly #resumeAt = new Map<number, ResumeState>();
  /**
   * The client's endpoint (the server's protocol) and the one this tab speaks v1 to the leader
   * with while it follows: the same one, unless the server's protocol numbers no messages (plain
   * mode), which this relay then numbers itself. And the client's endpoint host.
   */
  #inner: Endpoint | undefined;
  #link: Endpoint | undefined;
  #client: EndpointHost | undefined;

  constructor(
    private readonly host: RelayHost,
    private readonly outbox: Outbox,
  ) {}

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
        // An endpoint that numbers nothing: numbered here, in the order the connection gave them.
        if (seq === undefined && leading() && this.#inner?.position) seq = this.#received + 1;
        if (seq !== undefined) {
          if (leading()) {
            if (!this.#batch.length) this.#batchStart = seq;
            this.#batch.push(data);
            this.#received = seq;
          }
          // Kept by followers too: a tab that takes over resumes from its own position, and
          // gives a tab behind it what the server no longer has.
          if (seq > (this.#kept.at(-1)?.[0] ?? 0)) this.#kept.push([seq, data]);
          if (this.#kept.length > KEPT) this.#kept.splice(0, this.#kept.length - KEPT);
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

  /** The client's endpoint, seen through the relay: `inner` while this tab leads, `link` while it follows. */
  endpoint(inner: Endpoint, link: Endpoint): Endpoint {
    this.#inner = inner;
    this.#link = link;
    const leading = () => this.host.leading;
    const active = () => (leading() ? inner : link);
    return {
      resumable: inner.resumable,
      context: inner.context,
      // Each tab's queue holds the text for whom it talks to: the leader (v1), or the server.
      serialize: (data) => active().serialize(data),
      tooLarge: (bytes) => active().tooLarge(bytes),
      credentials: () => inner.credentials(),
      connected: (conn, token) => active().connected(conn, token),
      frame: (text) => {
        if (!leading()) return link.frame(text);
        // The server's limit, for the followers' welcome (sent as the server wrote it: t first).
        if (text.startsWith('{"t":"welcome"')) {
          const max = (parsed(text) as { max?: unknown }).max;
          if (typeof max === 'number') this.#serverMax = max;
        }
        inner.frame(text);
        this.#passOn();
      },
      protocolError: (what) => active().protocolError(what),
      flush: (conn: Connection) => {
        if (!leading()) return link.flush(conn);
        try {
          return this.#flush(inner, conn);
        } finally {
          // An endpoint without acks (plain) resolved what it handed over: the tabs hear it now.
          this.#passOn();
        }
      },
      disconnected: () => {
        active().disconnected();
        if (this.#open) this.host.post({ t: 'down' });
        this.#open = false;
      },
      reset: () => {
        inner.reset();
        if (link !== inner) link.reset();
      },
      snapshot: () => active().snapshot(),
      restore: (s) => active().restore(s),
      ackReleased: () => active().ackReleased(),
    };
  }

  /** While this tab follows: where an endpoint that numbers nothing resumes after a message the leader passed on. */
  note(m: TabMessage): void {
    if (m.t !== 'msg' || !m.at) return;
    const resumeAt = this.#resumeAt;
    resumeAt.set(...m.at);
    // One in, the oldest out (a Map keeps the order they came in).
    if (resumeAt.size > KEPT) resumeAt.delete(resumeAt.keys().next().value!);
  }

  /** What followers say to the leader. */
  take(m: TabMessage): void {
    switch (m.t) {
      case 'join':
        if (this.#open) return this.#welcome(m);
        this.#joins.push(m);
        return;
      case 'send':
        return this.#frame(m.tab, m.text);
      case 'bye':
        return this.#forget(m.tab);
      case 'have':
        return this.#recorded(m.tab, m.s);
    }
  }

  /**
   * This tab takes the connection over: the session the last leader announced, resumed from what
   * this tab received (the last leader acknowledged no more than this tab had, so the server
   * still has everything after; tabs further behind get the rest from what this tab kept). What
   * the last leader handed the server and was not acknowledged goes first, with its seqs, then
   * what this tab had queued itself. Other followers send the rest again.
   *
   * With `queue.persist`, `saved` is what the last holder persisted: the session, if no tab heard
   * of one (a reload with no other tab open), or else the messages it had not sent, which go
   * after the sent ones (see leftBehind).
   */
  takeOver(mirror: Mirror, saved?: Parameters<Restore>): void {
    const own = this.#link!.snapshot();
    const inner = this.#inner!;
    const outbox = this.outbox;
    const session = mirror.session;
    // What this tab queued while it followed, as text for the server now.
    for (const p of outbox.items) p.json = inner.serialize(p.data)!;
    if (saved && !session) {
      // What the last page of this URL left: its session goes on, its messages first.
      inner.restore(saved[0]);
      return outbox.adopt(saved[1], saved[0].sent);
    }
    if (!session) {
      // Nothing to resume: a new session, with this tab's messages, none of them sent yet.
      inner.reset();
      outbox.sent = 0;
      outbox.restart();
      return;
    }
    const mine = outbox.take();
    const earlier: Pending[] = [];
    for (const [seq, tab, local, json] of mirror.pending()) {
      const p = tab === this.host.tab ? mine.find((q) => q.seq === local) : undefined;
      if (p) mine.splice(mine.indexOf(p), 1);
      const item: Pending = p ?? {
        seq,
        json,
        bytes: utf8Length(json),
        data: parsed(json),
        resolve: () => this.#acknowledged(tab, local),
        reject: () => {},
      };
      item.seq = seq;
      item.origin = [tab, local];
      earlier.push(item);
      this.#seen.set(tab, Math.max(local, this.#seen.get(tab) ?? 0));
    }
    for (const [tab, local] of mirror.tabAcked) {
      this.#tabAcked.set(tab, local);
      this.#seen.set(tab, Math.max(local, this.#seen.get(tab) ?? 0));
    }
    const sent = earlier.at(-1)?.seq ?? mirror.out;
    const taken = (tab: string) =>
      tab === this.host.tab ? Infinity : Math.max(this.#seen.get(tab) ?? 0, this.#tabAcked.get(tab) ?? 0);
    const left = saved ? leftBehind(saved, session.sid, sent, taken) : [];
    left.forEach((p, i) => {
      p.seq = sent + 1 + i;
      if (!p.origin) return;
      const [tab, local] = p.origin;
      p.resolve = () => this.#acknowledged(tab, local);
      this.#seen.set(tab, Math.max(local, this.#seen.get(tab) ?? 0));
    });
    // Two adoptions: this tab's own messages back in (numbered after nothing), then the sent ones
    // and those left behind ahead of them, which numbers this tab's own after them. An endpoint
    // without acks (plain) sends again what it may not have handed over.
    outbox.adopt(mine, 0);
    outbox.adopt([...earlier, ...left], inner.resumable ? sent : mirror.out);
    // Its own position counts only in the session it was linked to.
    // A tab never linked in this session starts from now: what the last leader acknowledged, or
    // (an endpoint numbering nothing acknowledges nothing) the last message it announced.
    const unlinked = inner.position ? ([...this.#resumeAt.keys()].at(-1) ?? 0) : mirror.acked;
    const from = own.sid && this.host.session === session.sid ? own.a : unlinked;
    this.#sid = session.sid;
    inner.restore({ ...session, a: from });
    // An endpoint that numbers nothing goes on from where it stood after that message, if known.
    const position = inner.position;
    if (position) {
      for (const k of Object.keys(position)) delete position[k as keyof ResumeState];
      Object.assign(position, this.#resumeAt.get(from));
    }
    this.#received = from;
    this.#postedAck = mirror.acked;
    this.#postedOut = mirror.out;
  }

  /** The client stopped: nothing of this run is kept. */
  reset(): void {
    this.#watch.abort();
    this.#watch = new AbortController();
    this.#watched.clear();
    this.#positions.clear();
    this.#seen.clear();
    this.#tabAcked.clear();
    this.#joins = [];
    this.#kept = [];
    this.#resumeAt.clear();
    this.#have.clear();
    this.#holding = undefined;
    this.#announced = new WeakMap();
    this.#open = false;
    this.#received = this.#postedAck = this.#postedOut = this.#ownLocal = 0;
    this.#sid = undefined;
  }

  /** Whether any follower is linked: then closing this tab hands the session over instead of ending it. */
  get followed(): boolean {
    return this.#positions.size > 0;
  }

  /**
   * The server's session; with an endpoint that numbers nothing, the numbering the tabs share,
   * named by the tab that began it, which later holders go on with.
   */
  #session(): { sid?: string | undefined; key?: string | undefined } {
    if (!this.#inner!.position) return this.#inner!.snapshot();
    const sid = this.#sid ?? this.host.tab;
    return { sid, key: sid };
  }

  #opened(): void {
    this.#open = true;
    const { sid, key } = this.#session();
    if (this.#sid !== sid) {
      // Another session (the last one could not be resumed): what the tabs had of the last one
      // means nothing in it. Each tab relinks, and hears that its messages may be lost.
      this.#kept = [];
      this.#seen.clear();
      this.#tabAcked.clear();
      this.#received = this.#postedAck = this.#postedOut = 0;
      this.#sid = sid;
    }
    if (sid && key) this.host.post({ t: 'session', sid, key });
    this.host.post({ t: 'ready', tab: this.host.tab });
    const joins = this.#joins;
    this.#joins = [];
    for (const j of joins) this.#welcome(j);
  }

  #welcome(m: Extract<TabMessage, { t: 'join' }>): void {
    this.#state();
    // A tab of a session that is gone starts this one from its start, as after a failed resume.
    const gone = m.session !== null && m.session !== this.#sid;
    let a = gone ? 0 : (m.a ?? this.#received);
    const missed = this.#kept.filter(([seq]) => seq > a);
    // What it missed is no longer all here: it starts from now, and hears that it lost messages.
    const lost = a < this.#received && missed[0]?.[0] !== a + 1;
    if (lost) a = this.#received;
    const replay =
      lost || !missed.length
        ? undefined
        : JSON.stringify({ t: 'msg', s: missed[0]![0], d: missed.map(([, data]) => data) });
    this.#positions.set(m.tab, a);
    this.#watchTab(m.tab);
    const welcome = {
      t: 'welcome',
      v: 1,
      sid: m.tab,
      key: m.tab,
      resumed: !gone,
      a: this.#tabAcked.get(m.tab) ?? 0,
      hb: FOLLOWER_HB,
      max: this.#serverMax,
      transports: [],
    };
    this.host.post({
      t: 'welcome',
      to: m.tab,
      from: this.host.tab,
      a,
      transport: this.host.transport,
      text: JSON.stringify(welcome),
      replay,
      lost,
      session: this.#sid!,
    });
  }

  /** Everything a successor needs so far, for a tab joining now (the others take it again, harmlessly). */
  #state(): void {
    const { sid, key } = this.#session();
    if (!sid || !key) return;
    const outbox = this.outbox;
    const sent = outbox.items.filter((p) => p.seq <= outbox.sent);
    this.host.post({
      t: 'state',
      sid,
      key,
      acked: this.#postedAck,
      out: this.#postedOut,
      items: this.#sentItems(sent),
      tabs: Object.fromEntries(this.#tabAcked),
    });
  }

  /** A follower's v1 frame: its position, and its messages into the one outbox, each once. */
  #frame(tab: string, text: string): void {
    if (!this.#positions.has(tab)) return; // not linked (a frame from before this tab led)
    const f = decodeFrame(text);
    if (typeof f === 'string') return;
    if ((f.t === 'msg' || f.t === 'ack' || f.t === 'hello' || f.t === 'pong') && f.a !== undefined) {
      const before = this.#positions.get(tab) ?? 0;
      this.#positions.set(tab, Math.max(f.a, before));
      // The slowest tab may have been what held an ack back: it may go now.
      if (f.a > before) this.#inner?.ackReleased();
    }
    if (f.t !== 'msg') return;
    const outbox = this.outbox;
    for (let i = 0; i < f.d.length; i++) {
      const local = f.s + i;
      if (local <= (this.#seen.get(tab) ?? 0)) continue; // sent again after a relink: taken already
      this.#seen.set(tab, local);
      const data = f.d[i];
      // The text the server's protocol sends for it (plain mode: a string as it is).
      const json = this.#inner!.serialize(data)!;
      outbox.push({
        json,
        bytes: utf8Length(json),
        data,
        resolve: () => this.#acknowledged(tab, local),
        // Rejected when this tab stops: the follower sends it again to the next leader.
        reject: () => {},
        origin: [tab, local],
      });
    }
    this.#client?.flushSoon();
  }

  #acknowledged(tab: string, local: number): void {
    this.#tabAcked.set(tab, local);
    this.#acks[tab] = local;
  }

  /** Passes on what the frame just read delivered and acknowledged. */
  #passOn(): void {
    if (this.#batch.length) {
      const position = this.#inner?.position;
      const text = JSON.stringify({ t: 'msg', s: this.#batchStart, d: this.#batch });
      this.host.post({ t: 'msg', text, at: position && [this.#received, { ...position }] });
      this.#batch = [];
    }
    const first = this.outbox.items[0];
    const out = (first ? first.seq : this.outbox.nextSeq) - 1;
    if (out > this.#postedOut || Object.keys(this.#acks).length) {
      this.#postedOut = Math.max(out, this.#postedOut);
      this.host.post({ t: 'acks', s: this.#postedOut, tabs: this.#acks });
      this.#acks = {};
    }
  }

  /** Before messages go to the server: every tab learns their seqs, so a successor can send them again. */
  /**
   * Every follower records a message's seq before it goes to the server: were this tab to crash
   * right after, its successor must know the server has it, or its sender would send it again.
   * What not every follower recorded yet stays back (out of the outbox while the endpoint
   * writes) until each says 'have', or RECORD_WAIT passes.
   */
  #flush(inner: Endpoint, conn: Connection): boolean {
    const outbox = this.outbox;
    const fresh = outbox.unsent().filter((p) => this.#announced.get(p) !== p.seq);
    if (fresh.length) {
      this.host.post({ t: 'sent', items: this.#sentItems(fresh) });
      for (const p of fresh) this.#announced.set(p, p.seq);
    }
    let recorded = Infinity;
    for (const tab of this.#positions.keys()) recorded = Math.min(recorded, this.#have.get(tab) ?? 0);
    const held = outbox.items.findIndex((p) => p.seq > recorded && p.seq > outbox.sent);
    const { env } = this.host;
    if (held < 0) this.#holding = undefined;
    else if (this.#holding === undefined) {
      this.#holding = env.now();
      env.setTimeout(() => this.#client?.flushSoon(), RECORD_WAIT);
    }
    if (held < 0 || env.now() - this.#holding! >= RECORD_WAIT) return inner.flush(conn);
    const later = outbox.items.splice(held);
    try {
      return inner.flush(conn);
    } finally {
      outbox.items.push(...later);
    }
  }

  /** A follower recorded messages up to `s`: what waited for it may go. */
  #recorded(tab: string, s: number): void {
    if (s <= (this.#have.get(tab) ?? 0)) return;
    this.#have.set(tab, s);
    this.#client?.flushSoon();
  }

  /** [server seq, tab, tab-local seq, JSON] of each message; this tab's own are numbered here. */
  #sentItems(items: Pending[]): Array<[number, string, number, string]> {
    return items.map((p) => {
      const owner = (p.origin ??= [this.host.tab, ++this.#ownLocal]);
      return [p.seq, owner[0], owner[1], p.json];
    });
  }

  /** No ack to the server past what every follower has; every tab learns how far it went, before the server does. */
  #ackable(a: number): number {
    for (const p of this.#positions.values()) a = Math.min(a, p);
    if (a > this.#postedAck) {
      this.#postedAck = a;
      this.host.post({ t: 'acked', a });
    }
    return a;
  }

  /** A follower's tab lock comes free when the tab goes, however it goes: its position stops holding acks back. */
  #watchTab(tab: string): void {
    const { locks } = this.host.env;
    if (!locks || this.#watched.has(tab)) return;
    this.#watched.add(tab);
    locks.request(tabLock(this.host.url, tab), { signal: this.#watch.signal }, () => this.#forget(tab)).catch(() => {});
  }

  #forget(tab: string): void {
    if (this.#positions.delete(tab)) this.#inner?.ackReleased();
    this.#have.delete(tab);
    this.#client?.flushSoon();
    this.#seen.delete(tab);
    this.#tabAcked.delete(tab);
    this.#watched.delete(tab);
  }
}

/** The lock each sharing tab holds while its client runs: free means the tab is gone. */
export const tabLock = (url: string, tab: string): string => `realtime-client tab ${url} ${tab}`;
