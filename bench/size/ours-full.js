// Our full client: every transport, eventsource-parser bundled (the package root, as npm users import it).
import { RealtimeClient } from 'realtime-client';
globalThis.client = new RealtimeClient('/realtime');
