import { RealtimeClient as BaseClient, type ClientOptions } from './client';
import { websocket } from './transports/websocket';

/** Every transport this build includes, in the default order of preference. */
export const transports = [websocket];

/**
 * The realtime client with every transport. To bundle fewer, import `RealtimeClient` from
 * 'realtime-client/core' and pass transport objects in `options.transports`.
 */
export class RealtimeClient extends BaseClient {
  constructor(url: string, options?: ClientOptions) {
    super(url, options, transports);
  }
}

export type { ClientOptions, HeartbeatOptions, RealtimeEventMap } from './client';
export type { ReconnectOptions } from './backoff';
export type { QueueOptions } from './queue';
export type { Env, EventTargetLike } from './env';
export type { ConnectionState } from './state';
export type { Transport, TransportHandlers, Connection, TransportName } from './transports/types';
export { RealtimeError, type ErrorCode, type RealtimeErrorOptions } from './errors';
export { CloseCode, isRetryableClose, PROTOCOL_VERSION } from './protocol';
export { backoffDelay } from './backoff';
export { websocket };
