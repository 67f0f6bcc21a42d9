/**
 * The client with nothing added: no default transports list, protocol v1 only, no upgrade probes,
 * no page lifecycle, no persisted queue. Pass what you use, and bundlers drop the rest:
 *
 *   import { RealtimeClient, websocket } from 'realtime-client/core';
 *   new RealtimeClient(url, { transports: [websocket()] });
 *
 * Each opt-in part is an option: `upgrade: upgradeProbes()`, `lifecycle: pageLifecycle()`,
 * `queue: { persist: indexedDBQueue() }`, and plain mode from 'realtime-client/plain'.
 */
export { RealtimeClient } from './client/client';
export type { Defaults } from './client/options';
export * from './exports';
