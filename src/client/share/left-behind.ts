import { RealtimeError } from '../errors';
import type { Restore } from '../persisted-queue';
import type { Pending } from '../queue';

/**
 * What the queue the last holder persisted (`queue.persist`) holds that no tab will send again,
 * for the tab taking the connection over: the messages the holder had not handed to the server,
 * its own and those of tabs gone since. What went out is known from the tabs' channel (every tab
 * heard of it before it went); a live tab sends its own again, and `taken(tab)` is how far the
 * new holder has a tab's messages already (by their number in that tab).
 *
 * A queue saved in an older session (the holder's last save came before the session changed):
 * what it had handed over is lost with that session, and reported so, as a reload would.
 */
export function leftBehind(
  [saved, items]: Parameters<Restore>,
  sid: string,
  sent: number,
  taken: (tab: string) => number,
): Pending[] {
  const same = saved.sid === sid;
  const out = same ? Math.max(sent, saved.sent) : saved.sent;
  return items.filter((p) => {
    if (p.seq > out) return !p.origin || p.origin[1] > taken(p.origin[0]);
    if (!same)
      p.reject(
        new RealtimeError('session-lost', 'Session lost: this message, saved by a closed tab, may not have arrived', {
          data: p.data,
        }),
      );
    return false;
  });
}
