/**
 * The client without a default transports list: pass the transports you use, and bundlers
 * drop the rest.
 *
 *   import { RealtimeClient, websocket } from 'realtime-client/core';
 *   new RealtimeClient(url, { transports: [websocket()] });
 */
export { RealtimeClient } from './client/client';
export * from './exports';
