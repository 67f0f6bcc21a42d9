/**
 * Plain mode, for endpoints that speak no protocol of ours: the protocol object and its HTTP
 * transports (`websocket()` from 'realtime-client/core' serves plain mode as it is).
 *
 *   import { RealtimeClient } from 'realtime-client/core';
 *   import { plain, plainSse } from 'realtime-client/plain';
 *   new RealtimeClient('/prices', { protocol: plain, transports: [plainSse()] });
 *
 * 'realtime-client' includes all of it: there, `protocol: 'plain'` and the transport names work.
 */
export { plain } from './client/plain';
export { plainSse } from './client/transports/plain-sse';
export { plainStream } from './client/transports/plain-stream';
export { plainPoll, type PlainPollOptions } from './client/transports/plain-poll';
export type { ResumeState } from './client/transports/types';
