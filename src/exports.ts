/** What the client's entry points export besides their RealtimeClient. */
export type { ClientOptions, HeartbeatOptions, SendOptions } from './client/options';
export type { RealtimeEventMap } from './client/events';
export type { ReconnectOptions } from './client/retry';
export type { QueueOptions } from './client/queue';
export type { Env, EventTargetLike } from './client/env';
export type { ConnectionState } from './client/state';
export type {
  Transport,
  TransportHandlers,
  Connection,
  OpenContext,
  CloseReason,
  ResumeState,
} from './client/transports/types';
export type { TransportName } from './protocol';
export type { Protocol, Endpoint, EndpointHost, EndpointOptions, SessionSnapshot } from './client/endpoint';
export type { FetchStreamOptions } from './client/transports/fetch-stream';
export type { LongPollOptions } from './client/transports/long-poll';
export type { UpgradeProbes, Prober, ProbeHost } from './client/upgrade';
export type { PageLifecycle, PageWatch, PageHost } from './client/lifecycle';
export type { PersistedQueue, QueueHost } from './client/persisted-queue';
export type { Sharing, Carrier, CarrierParts } from './client/carrier';
export type { LadderHost } from './client/ladder';
export type { Config } from './client/options';
export type { StateEvent } from './client/state';
export { RealtimeError, type ErrorCode, type RealtimeErrorOptions } from './client/errors';
export { CloseCode, isRetryableClose, PROTOCOL_VERSION } from './protocol';
export { backoffDelay } from './client/retry';
export { v1 } from './client/session';
export { websocket } from './client/transports/websocket';
export { sse } from './client/transports/sse';
export { fetchStream } from './client/transports/fetch-stream';
export { longPoll } from './client/transports/long-poll';
export { upgradeProbes } from './client/upgrade';
export { pageLifecycle } from './client/lifecycle';
export {
  indexedDBQueue,
  localStorageQueue,
  queueStorage,
  type PersistKind,
  type QueueStorage,
  type QueueBackend,
  type OwnedQueue,
  type Saved,
} from './client/persist';
