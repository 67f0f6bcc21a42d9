// Our full client sharing one connection among tabs: the package root plus realtime-client/share.
import { RealtimeClient } from 'realtime-client';
import { tabSharing } from 'realtime-client/share';
globalThis.client = new RealtimeClient('/realtime', { share: tabSharing() });
