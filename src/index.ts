import { RealtimeClient as BaseClient, type ClientOptions } from './client/client';
import { fetchStream } from './client/transports/fetch-stream';
import { indexedDBQueue, localStorageQueue } from './client/persist';
import { longPoll } from './client/transports/long-poll';
import { sse } from './client/transports/sse';
import { websocket } from './client/transports/websocket';

/** Every transport this build includes, in the default order of preference. */
export const transports = [/* @__PURE__ */ websocket(), /* @__PURE__ */ sse(), /* @__PURE__ */ fetchStream(), /* @__PURE__ */ longPoll()];

/**
 * The realtime client with every transport. To bundle fewer, import `RealtimeClient` from
 * 'realtime-client/core' and pass transport objects in `options.transports`.
 */
export class RealtimeClient extends BaseClient {
  constructor(url: string, options?: ClientOptions) {
    super(url, options, transports, storages);
  }
}

/** Every storage `queue.persist` can name in this build. */
export const storages = [/* @__PURE__ */ indexedDBQueue(), /* @__PURE__ */ localStorageQueue()];

export * from './exports';
