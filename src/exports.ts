/** What both entry points export besides their RealtimeClient. */
export type { ClientOptions, HeartbeatOptions, RealtimeEventMap, SendOptions } from './client/client';
export type { ReconnectOptions } from './client/backoff';
export type { QueueOptions } from './client/queue';
export type { Env, EventTargetLike } from './client/env';
export type { ConnectionState } from './client/state';
export type { Transport, TransportHandlers, Connection, OpenContext, TransportName } from './client/transports/types';
export type { FetchStreamOptions } from './client/transports/fetch-stream';
export type { LongPollOptions } from './client/transports/long-poll';
export { RealtimeError, type ErrorCode, type RealtimeErrorOptions } from './client/errors';
export { CloseCode, isRetryableClose, PROTOCOL_VERSION } from './protocol';
export { backoffDelay } from './client/backoff';
export { websocket } from './client/transports/websocket';
export { sse } from './client/transports/sse';
export { fetchStream } from './client/transports/fetch-stream';
export { longPoll } from './client/transports/long-poll';
export { indexedDBQueue, localStorageQueue, type PersistKind, type QueueStorage, type OwnedQueue, type Saved } from './client/persist';
