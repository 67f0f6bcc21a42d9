/**
 * One connection for all the tabs of an origin that open the same URL: pass `share: tabSharing()`.
 * A separate import, so that clients that do not share carry none of it.
 *
 *   import { RealtimeClient } from 'realtime-client';
 *   import { tabSharing } from 'realtime-client/share';
 *   new RealtimeClient('/live', { share: tabSharing() });
 */
export { tabSharing } from './client/share/index';
export type { Sharing } from './client/carrier';
