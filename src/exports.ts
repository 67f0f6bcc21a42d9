/** What both entry points export besides their RealtimeClient. */
export type { ClientOptions, HeartbeatOptions, RealtimeEventMap, SendOptions } from './client';
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
export { websocket } from './transports/websocket';
export { sse } from './transports/sse';
export { fetchStream } from './transports/fetch-stream';
export { longPoll } from './transports/long-poll';
export { indexedDBQueue, localStorageQueue, type PersistKind, type QueueStorage, type OwnedQueue, type Saved } from './persist';
