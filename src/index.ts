import { RealtimeClient as BaseClient, type ClientOptions } from './client';
import { fetchStream } from './transports/fetch-stream';
import { longPoll } from './transports/long-poll';
import { sse } from './transports/sse';
import { websocket } from './transports/websocket';

/** Every transport this build includes, in the default order of preference. */
export const transports = [websocket(), sse(), fetchStream(), longPoll()];

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
export type { Transport, TransportHandlers, Connection, OpenContext, TransportName } from './transports/types';
export type { FetchStreamOptions } from './transports/fetch-stream';
export type { LongPollOptions } from './transports/long-poll';
export { RealtimeError, type ErrorCode, type RealtimeErrorOptions } from './errors';
export { CloseCode, isRetryableClose, PROTOCOL_VERSION } from './protocol';
export { backoffDelay } from './backoff';
export { websocket, sse, fetchStream, longPoll };
