import type { Restore } from '../persisted-queue';
import type { Pending } from '../queue';

/**
 * What the queue the last holder persisted (`queue.persist`) holds that no tab will send again,
 * for the tab taking the connection over: the messages the holder had not handed to the server,
 * its own and those of tabs gone since. What went out is known from the tabs' channel (every tab
 * heard of it before it went); a live tab sends its own again, and `taken(tab)` is how far the
 * new holder has a tab's messages already (by their number in that tab).
 *
 * A queue saved in an older session (its last save, after the session changed, was lost): what
 * it had handed over went with that session, and the holder reported it 'session-lost' then.
 */
export function leftBehind(
  [saved, items]: Parameters<Restore>,
  sid: string,
  sent: number,
  taken: (tab: string) => number,
): Pending[] {
  const out = saved.sid === sid ? Math.max(sent, saved.sent) : saved.sent;
  return items.filter((p) => p.seq > out && (!p.origin || p.origin[1] > taken(p.origin[0])));
}
