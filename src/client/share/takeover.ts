import type { Endpoint, SessionSnapshot } from '../endpoint';
import type { Restore } from '../persisted-queue';
import type { Outbox } from '../queue';
import type { Mirror } from './channel';
import type { FanOut } from './fanout';
import type { Followers, Standing } from './followers';
import type { SendGate } from './gate';
import { leftBehind } from './left-behind';

/** The relay's parts a takeover rebuilds. */
export interface Successor {
  readonly tab: string;
  /** The server session this tab's messages belonged to while it followed, and where its link stood then. */
  readonly session: string | null;
  readonly own: SessionSnapshot;
  /** The client's endpoint (the server's protocol). */
  readonly inner: Endpoint;
  readonly outbox: Outbox;
  readonly gate: SendGate;
  readonly followers: Followers;
  readonly at: Standing;
  readonly news: FanOut;
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
export function takeOver(to: Successor, mirror: Mirror, saved?: Parameters<Restore>): void {
  const { inner, outbox, followers, at } = to;
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
  const [earlier, mine] = to.gate.takeSent(mirror.pending(), (tab, local) => followers.acknowledged(tab, local));
  for (const p of earlier) followers.had(...p.origin!);
  for (const [tab, local] of mirror.tabAcked) followers.had(tab, local, local);
  const sent = earlier.at(-1)?.seq ?? mirror.out;
  const taken = (tab: string) => (tab === to.tab ? Infinity : followers.taken(tab));
  const left = saved ? leftBehind(saved, session.sid, sent, taken) : [];
  left.forEach((p, i) => {
    p.seq = sent + 1 + i;
    if (!p.origin) return;
    const [tab, local] = p.origin;
    p.resolve = () => followers.acknowledged(tab, local);
    followers.had(tab, local);
  });
  // Two adoptions: this tab's own messages back in (numbered after nothing), then the sent ones
  // and those left behind ahead of them, which numbers this tab's own after them. An endpoint
  // without acks (plain) sends again what it may not have handed over.
  outbox.adopt(mine, 0);
  outbox.adopt([...earlier, ...left], inner.resumable ? sent : mirror.out);
  // Its own position counts only in the session it was linked to.
  // A tab never linked in this session starts from now: what the last leader acknowledged, or
  // (an endpoint numbering nothing acknowledges nothing) the last message it announced.
  const unlinked = inner.position ? at.kept.lastNoted() : mirror.acked;
  const from = to.own.sid && to.session === session.sid ? to.own.a : unlinked;
  at.sid = session.sid;
  inner.restore({ ...session, a: from });
  // An endpoint that numbers nothing goes on from where it stood after that message, if known.
  if (inner.position) at.kept.resumeAfter(from, inner.position);
  at.received = from;
  to.news.resume(mirror.acked, mirror.out);
}
