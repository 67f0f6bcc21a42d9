import type { Sharing } from '../carrier';
import { RealtimeError } from '../errors';
import { SharedCarrier } from './tabs';

/**
 * One connection for every tab of this origin that opens the same URL with `share: tabSharing()`:
 * a Web Lock elects the tab that holds it, the others talk to that tab over a BroadcastChannel;
 * no worker file. Each tab keeps the whole API. When the holder goes, another tab takes the lock
 * and resumes the session: what was not acknowledged is sent again once, and every tab drops
 * what it already had, so each message arrives once, in order, either way.
 *
 * Plain mode shares too (the next holder resumes from the Last-Event-ID, cursor or ETag of the
 * last message it has), and so does `queue.persist` (the holder owns the URL's saved queue).
 * Where Web Locks or BroadcastChannel are missing, or a custom protocol can resume neither a
 * session nor a position, the client keeps its own connection and reports why with an
 * 'unsupported' error.
 */
export const tabSharing = (): Sharing => ({
  attach(parts) {
    const { env, protocol } = parts.config;
    const why = !env.locks
      ? 'Web Locks are not available'
      : !env.BroadcastChannel
        ? 'BroadcastChannel is not available'
        : undefined;
    if (!why) {
      // Made before it starts anything: a protocol that cannot go on elsewhere is let go.
      const carrier = new SharedCarrier(parts);
      if (carrier.shareable) return { endpoint: carrier.endpoint, carrier };
    }
    const endpoint = protocol.create(parts.endpointHost, parts.config);
    // After the constructor, with the first attempt: listeners added right after it hear this.
    queueMicrotask(() =>
      parts.ladderHost.emit(
        'error',
        new RealtimeError(
          'unsupported',
          `share: ${why ?? `protocol ${protocol.name} cannot resume a session in another tab`}; this tab keeps its own connection`,
        ),
      ),
    );
    return { endpoint, carrier: parts.ladder(endpoint) };
  },
});
