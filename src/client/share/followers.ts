import { decodeFrame, utf8Length } from '../../protocol';
import type { Outbox } from '../queue';
import type { TabMessage } from './channel';
import type { SendGate } from './gate';
import type { Kept } from './kept';
import type { RelayHost } from './relay';

/**
 * The ping interval announced to followers: the holder never pings them. Its death comes from the
 * lock, and a hang from a follower's probe going unanswered (see HolderWatch).
 */
const FOLLOWER_HB = 5 * 60_000;

/** The lock each sharing tab holds while its client runs: free means the tab is gone. */
export const tabLock = (url: string, tab: string): string => `realtime-client tab ${url} ${tab}`;

/** Where the tab holding the connection stands, which its welcome to a follower says. */
export interface Standing {
  /** The server session of the connection held, the highest server seq received, the server's frame limit. */
  sid: string | undefined;
  received: number;
  serverMax: number;
  /** The last server messages, for tabs that relink behind. */
  readonly kept: Kept;
}

/** What the follower-facing side asks of the rest of the relay. */
export interface FollowerCalls {
  /** Tells every tab what a successor needs so far ('state'). */
  postState(): void;
  /** The text the server's protocol sends for a message (plain mode: a string as it is). */
  serialize(data: unknown): string;
  /** A follower's position moved: an ack held back for it may go. */
  ackReleased(): void;
  flushSoon(): void;
}

/**
 * The holder's side towards its followers: a v1 server over the channel. Each follower links
 * with 'join' and is welcomed from its position; its frames say how far it received (acks to the
 * server wait for the slowest) and carry its messages into the one outbox, each once.
 */
export class Followers {
  /** Per follower: its highest server seq received, highest message taken, highest acknowledged. */
  readonly #positions = new Map<string, number>();
  readonly #seen = new Map<string, number>();
  readonly #tabAcked = new Map<string, number>();
  /** While the holder's connection is not open, the joins it answers once it is. */
  #open = false;
  #joins: Array<Extract<TabMessage, { t: 'join' }>> = [];
  /** Tabs whose messages the server acknowledged since takeAcks(). */
  #acks: Record<string, number> = {};
  #watch = new AbortController();
  readonly #watched = new Set<string>();

  constructor(
    private readonly host: RelayHost,
    private readonly at: Standing,
    private readonly outbox: Outbox,
    private readonly gate: SendGate,
    private readonly calls: FollowerCalls,
  ) {}

  /** What followers say to the holder. */
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
        return this.gate.recorded(m.tab, m.s);
      case 'probe':
        return this.host.post({ t: 'beat', tab: this.host.tab });
    }
  }

  /** Whether any follower is linked. */
  get followed(): boolean {
    return this.#positions.size > 0;
  }

  /** The linked followers. */
  tabs(): Iterable<string> {
    return this.#positions.keys();
  }

  /** No ack to the server past `a` beyond what every follower has. */
  slowest(a: number): number {
    for (const p of this.#positions.values()) a = Math.min(a, p);
    return a;
  }

  /** The holder's connection is open: the joins that waited are answered. */
  opened(): void {
    this.#open = true;
    const joins = this.#joins;
    this.#joins = [];
    for (const j of joins) this.#welcome(j);
  }

  /** The holder's connection went; returns whether it was open. */
  closed(): boolean {
    const was = this.#open;
    this.#open = false;
    return was;
  }

  /** Another session: what the tabs sent in the last one means nothing in it. */
  newSession(): void {
    this.#seen.clear();
    this.#tabAcked.clear();
  }

  /** For a successor: `tab` sent messages up to `local`, the server had them up to `acked`. */
  had(tab: string, local: number, acked?: number): void {
    if (acked !== undefined) this.#tabAcked.set(tab, acked);
    this.#seen.set(tab, Math.max(local, this.#seen.get(tab) ?? 0));
  }

  /** The highest message of `tab` taken or acknowledged. */
  taken(tab: string): number {
    return Math.max(this.#seen.get(tab) ?? 0, this.#tabAcked.get(tab) ?? 0);
  }

  /** The server acknowledged message `local` of `tab`. */
  acknowledged(tab: string, local: number): void {
    this.#tabAcked.set(tab, local);
    this.#acks[tab] = local;
  }

  /** Per tab, its highest message the server acknowledged: all of them, or (`since`) those since the last call. */
  acks(since: boolean): Record<string, number> {
    if (!since) return Object.fromEntries(this.#tabAcked);
    const acks = this.#acks;
    this.#acks = {};
    return acks;
  }

  /** This tab no longer holds the connection: nothing of its followers is kept. */
  follow(): void {
    this.#watch.abort();
    this.#watch = new AbortController();
    this.#watched.clear();
    this.#positions.clear();
    this.newSession();
    this.#joins = [];
    this.#acks = {};
    this.#open = false;
  }

  #welcome(m: Extract<TabMessage, { t: 'join' }>): void {
    const { host, at } = this;
    this.calls.postState();
    // A tab of a session that is gone starts this one from its start, as after a failed resume.
    const gone = m.session !== null && m.session !== at.sid;
    let a = gone ? 0 : (m.a ?? at.received);
    const missed = at.kept.after(a);
    // What it missed is no longer all here: it starts from now, and hears that it lost messages.
    const lost = a < at.received && missed[0]?.[0] !== a + 1;
    if (lost) a = at.received;
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
      max: at.serverMax,
      transports: [],
    };
    host.post({
      t: 'welcome',
      to: m.tab,
      from: host.tab,
      a,
      transport: host.transport,
      text: JSON.stringify(welcome),
      replay,
      lost,
      session: at.sid!,
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
      if (f.a > before) this.calls.ackReleased();
    }
    if (f.t !== 'msg') return;
    for (let i = 0; i < f.d.length; i++) {
      const local = f.s + i;
      if (local <= (this.#seen.get(tab) ?? 0)) continue; // sent again after a relink: taken already
      this.#seen.set(tab, local);
      const data = f.d[i];
      const json = this.calls.serialize(data);
      this.outbox.push({
        json,
        bytes: utf8Length(json),
        data,
        resolve: () => this.acknowledged(tab, local),
        // Rejected when this tab stops: the follower sends it again to the next leader.
        reject: () => {},
        origin: [tab, local],
      });
    }
    this.calls.flushSoon();
  }

  /** A follower's tab lock comes free when the tab goes, however it goes: its position stops holding acks back. */
  #watchTab(tab: string): void {
    const { locks } = this.host.env;
    if (!locks || this.#watched.has(tab)) return;
    this.#watched.add(tab);
    locks.request(tabLock(this.host.url, tab), { signal: this.#watch.signal }, () => this.#forget(tab)).catch(() => {});
  }

  #forget(tab: string): void {
    if (this.#positions.delete(tab)) this.calls.ackReleased();
    this.gate.forget(tab);
    this.calls.flushSoon();
    this.#seen.delete(tab);
    this.#tabAcked.delete(tab);
    this.#watched.delete(tab);
  }
}
