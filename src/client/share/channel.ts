import type { ResumeState } from '../transports/types';

/**
 * What the tabs sharing one connection say to each other over their BroadcastChannel, which only
 * pages of this origin can open: the session's id and key travel here and nowhere else.
 *
 * A follower speaks protocol v1 to the leader, as if the leader were the server: its frames go
 * up as `send`, and the leader answers with v1 frames (`welcome`, `msg`, acks in `acks`). Server
 * messages keep the server's sequence numbers, so every tab dedupes a replay itself. The leader
 * also tells every tab what a successor needs to resume the session: `session`, `acked` (how far
 * it acknowledged the server's messages) and `sent` (every message handed to the server and not
 * yet acknowledged, with the tab and tab-local number it came from).
 */
export type TabMessage =
  /**
   * Follower to leader: link me; `a` is the highest server seq this tab received (null: none
   * yet), in the server session `session` (null: none yet).
   */
  | { t: 'join'; tab: string; a: number | null; session: string | null }
  /** Follower to leader: one v1 frame (hello, msg, ack, pong). */
  | { t: 'send'; tab: string; text: string }
  /** Follower to leader: this tab's client closed. */
  | { t: 'bye'; tab: string }
  /**
   * Leader to one follower: start from server seq `a`; `text` is the v1 welcome frame, `replay`
   * a msg frame of what the tab missed while it was not linked. `lost`: it missed more than the
   * leader keeps.
   */
  | {
      t: 'welcome';
      to: string;
      from: string;
      a: number;
      transport: string | null;
      text: string;
      replay: string | undefined;
      lost: boolean;
      /** The server session the tab is linked to now. */
      session: string;
    }
  /**
   * Leader to every follower: a v1 msg frame of server messages, with the server's seqs (or, from
   * an endpoint that numbers none, the leader's); `at`: where such an endpoint resumes after the
   * last of them, for a successor to start from.
   */
  | { t: 'msg'; text: string; at?: [seq: number, resume: ResumeState] | undefined }
  /** Leader to every tab: the server acknowledged client seqs up to `s`; per tab, its highest message acknowledged. */
  | { t: 'acks'; s: number; tabs: Record<string, number> }
  /** Leader to every tab: handed to the server: [server seq, tab, tab-local seq, JSON]. */
  | { t: 'sent'; items: Array<[number, string, number, string]> }
  /** Leader to every tab: it acknowledged the server's messages up to `a`. */
  | { t: 'acked'; a: number }
  /** Leader to every tab: the session to resume. */
  | { t: 'session'; sid: string; key: string }
  /** Leader to every tab, when a tab joins: all of the above so far, which the new tab missed. */
  | {
      t: 'state';
      sid: string;
      key: string;
      acked: number;
      out: number;
      items: Array<[number, string, number, string]>;
      tabs: Record<string, number>;
    }
  /** Leader to every tab: its connection is open (a new leader's, or again after a drop). */
  | { t: 'ready'; tab: string }
  /** Leader to every tab: its connection dropped; it reconnects. */
  | { t: 'down'; tab: string }
  /** Follower to the leader: nothing heard from you for a while; are you there? */
  | { t: 'probe' }
  /** Leader to every tab, answering a probe: this tab holds the connection and runs. */
  | { t: 'beat'; tab: string }
  /** Follower to leader: it recorded every message sent up to server seq `s` (see SendGate: nothing goes out before). */
  | { t: 'have'; tab: string; s: number }
  /** A tab taking over, to itself: everything the last leader posted before this has been read. */
  | { t: 'drain'; id: string };

/**
 * A message as posted: by which tab, in which holder's term. A tab that takes the lock starts a
 * term later than any it heard of (and no earlier than now), so what a holder robbed of its lock
 * says before it knows (it stood still) comes in an earlier term than its successor's.
 */
export type Posted = TabMessage & { by: string; term: number };

/**
 * Every tab's copy of what the leader said a successor needs. The leader's own copy is not kept
 * (a channel does not deliver to its sender): it has the real thing.
 */
export class Mirror {
  session: { sid: string; key: string } | undefined;
  /** Highest server seq the leader acknowledged: the successor resumes from here. */
  acked = 0;
  /** Highest client seq the server acknowledged. */
  out = 0;
  /** Messages handed to the server and not yet acknowledged, by server seq: [tab, tab-local seq, JSON]. */
  readonly inflight = new Map<number, [string, number, string]>();
  /** Per tab, its highest message the server acknowledged. */
  readonly tabAcked = new Map<string, number>();
  /** Highest server seq of a message recorded here. */
  recorded = 0;

  take(m: TabMessage): void {
    switch (m.t) {
      case 'session':
        // Another session (the last one expired): nothing of the old one can be resumed.
        if (this.session?.sid !== m.sid) this.clear();
        this.session = { sid: m.sid, key: m.key };
        return;
      case 'state':
        this.take({ t: 'session', sid: m.sid, key: m.key });
        this.take({ t: 'sent', items: m.items });
        this.take({ t: 'acks', s: m.out, tabs: m.tabs });
        return this.take({ t: 'acked', a: m.acked });
      case 'sent':
        for (const [seq, tab, local, json] of m.items) {
          this.inflight.set(seq, [tab, local, json]);
          this.recorded = Math.max(this.recorded, seq);
        }
        return;
      case 'acks':
        this.out = Math.max(this.out, m.s);
        for (const seq of this.inflight.keys()) if (seq <= m.s) this.inflight.delete(seq);
        for (const [tab, local] of Object.entries(m.tabs))
          this.tabAcked.set(tab, Math.max(local, this.tabAcked.get(tab) ?? 0));
        return;
      case 'acked':
        this.acked = Math.max(this.acked, m.a);
        return;
      case 'bye':
        this.tabAcked.delete(m.tab);
    }
  }

  /** What was sent and not acknowledged, from the first seq after `out`, in order and without a gap. */
  pending(): Array<[number, string, number, string]> {
    const out: Array<[number, string, number, string]> = [];
    for (let seq = this.out + 1; this.inflight.has(seq); seq++) out.push([seq, ...this.inflight.get(seq)!]);
    return out;
  }

  clear(): void {
    this.acked = this.out = this.recorded = 0;
    this.inflight.clear();
    this.tabAcked.clear();
  }
}
