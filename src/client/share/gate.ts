import { utf8Length } from '../../protocol';
import { parsed, type Endpoint } from '../endpoint';
import type { Env } from '../env';
import type { Outbox, Pending } from '../queue';
import type { Connection } from '../transports/types';
import type { TabMessage } from './channel';

/**
 * How long messages wait for every follower to record them before they go out anyway, in ms: a
 * frozen tab must not stop the others (it would then resend, once, what went out meanwhile).
 */
const RECORD_WAIT = 1000;

/** [server seq, tab, tab-local seq, JSON] of a message handed to the server. */
export type SentItem = [number, string, number, string];

/** What the gate needs from the tab holding the connection. */
export interface GateHost {
  readonly tab: string;
  readonly env: Env;
  post(m: TabMessage): void;
  /** Asks for the outbox to be written again (what waited may go now). */
  flushSoon(): void;
}

/**
 * The holder's outbox, as the other tabs know it: which tab and tab-local number each message
 * came from, and the gate that keeps a message from the server until every follower recorded
 * its seq (were this tab to crash right after, its successor must know the server has it, or
 * the message's tab would send it again).
 */
export class SendGate {
  /** The last tab-local number of this tab's own messages (each message's is its `origin`). */
  #ownLocal = 0;
  /** Per follower, the highest seq it recorded; when the holder began holding messages back for them. */
  readonly #have = new Map<string, number>();
  #holding: number | undefined;
  /** The seq each message was last announced with ('sent'). */
  #announced = new WeakMap<Pending, number>();

  constructor(
    private readonly host: GateHost,
    private readonly outbox: Outbox,
  ) {}

  /**
   * For a tab taking over: the messages the last holder handed the server that the server has not
   * acknowledged (`pending`), with their seqs, and this tab's own messages, taken out of the
   * outbox. Its own among the sent keep their promises; the other tabs' resolve as `acknowledged`
   * says. This tab's next numbers come after those it used as a follower, which the other tabs
   * may still know (see stepDown()).
   */
  takeSent(pending: SentItem[], acknowledged: (tab: string, local: number) => void): [Pending[], Pending[]] {
    const { tab } = this.host;
    const outbox = this.outbox;
    this.#ownLocal = outbox.nextSeq - 1;
    const mine = outbox.take();
    const sent = pending.map(([seq, from, local, json]) => {
      const p = from === tab ? mine.find((q) => q.seq === local) : undefined;
      if (p) mine.splice(mine.indexOf(p), 1);
      const item: Pending = p ?? {
        seq,
        json,
        bytes: utf8Length(json),
        data: parsed(json),
        resolve: () => acknowledged(from, local),
        reject: () => {},
      };
      item.seq = seq;
      item.origin = [from, local];
      return item;
    });
    return [sent, mine];
  }

  /** [server seq, tab, tab-local seq, JSON] of each message; this tab's own are numbered here. */
  items(items: Pending[]): SentItem[] {
    return items.map((p) => {
      const owner = (p.origin ??= [this.host.tab, ++this.#ownLocal]);
      return [p.seq, owner[0], owner[1], p.json];
    });
  }

  /**
   * Before messages go to the server, every tab learns their seqs. What not every one of
   * `followers` recorded yet stays back (out of the outbox while the endpoint writes) until
   * each says 'have', or RECORD_WAIT passes.
   */
  flush(inner: Endpoint, conn: Connection, followers: Iterable<string>): boolean {
    const outbox = this.outbox;
    const fresh = outbox.unsent().filter((p) => this.#announced.get(p) !== p.seq);
    if (fresh.length) {
      this.host.post({ t: 'sent', items: this.items(fresh) });
      for (const p of fresh) this.#announced.set(p, p.seq);
    }
    let recorded = Infinity;
    for (const tab of followers) recorded = Math.min(recorded, this.#have.get(tab) ?? 0);
    const held = outbox.items.findIndex((p) => p.seq > recorded && p.seq > outbox.sent);
    const { env } = this.host;
    if (held < 0) this.#holding = undefined;
    else if (this.#holding === undefined) {
      this.#holding = env.now();
      env.setTimeout(() => this.host.flushSoon(), RECORD_WAIT);
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
  recorded(tab: string, s: number): void {
    if (s <= (this.#have.get(tab) ?? 0)) return;
    this.#have.set(tab, s);
    this.host.flushSoon();
  }

  /** A follower went: nothing waits for it. */
  forget(tab: string): void {
    this.#have.delete(tab);
  }

  /**
   * This tab follows again: its outbox goes back to its own numbering, as a follower's. The
   * other tabs know its messages by the tab-local numbers given when they were announced: those
   * keep them, the rest are numbered after. Other tabs' messages leave it: their tabs send them
   * again to the next holder, which drops what it already has.
   */
  stepDown(): void {
    const outbox = this.outbox;
    const mine: Pending[] = [];
    for (const p of outbox.take()) {
      const owner = (p.origin ??= [this.host.tab, ++this.#ownLocal]);
      if (owner[0] !== this.host.tab) continue;
      p.seq = owner[1];
      mine.push(p);
    }
    outbox.adopt(mine, mine.at(-1)?.seq ?? this.#ownLocal);
    this.follow();
  }

  /** Forgets what only a holder keeps; this tab's numbering goes on. */
  follow(): void {
    this.#have.clear();
    this.#holding = undefined;
    this.#announced = new WeakMap();
  }

  /** The client stopped. */
  reset(): void {
    this.follow();
    this.#ownLocal = 0;
  }
}
