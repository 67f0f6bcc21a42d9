import { RealtimeClient as Client } from './client/client';
import { pageLifecycle } from './client/lifecycle';
import type { ClientOptions, Defaults } from './client/options';
import { indexedDBQueue, localStorageQueue } from './client/persist';
import { plain } from './client/plain';
import { fetchStream } from './client/transports/fetch-stream';
import { longPoll } from './client/transports/long-poll';
import { plainPoll } from './client/transports/plain-poll';
import { plainSse } from './client/transports/plain-sse';
import { plainStream } from './client/transports/plain-stream';
import { sse } from './client/transports/sse';
import { websocket } from './client/transports/websocket';
import { upgradeProbes } from './client/upgrade';

/** Every transport of protocol v1 this build includes, in the default order of preference. */
export const transports = [
  /* @__PURE__ */ websocket(),
  /* @__PURE__ */ sse(),
  /* @__PURE__ */ fetchStream(),
  /* @__PURE__ */ longPoll(),
];

/** The plain-mode variants of the HTTP transports, under the same names (`websocket()` serves both protocols). */
export const plainTransports = [/* @__PURE__ */ plainSse(), /* @__PURE__ */ plainStream(), /* @__PURE__ */ plainPoll()];

/** Every storage `queue.persist` can name in this build. */
export const storages = [/* @__PURE__ */ indexedDBQueue(), /* @__PURE__ */ localStorageQueue()];

const defaults: Defaults = {
  transports: [...transports, ...plainTransports],
  storages,
  protocols: [plain],
  upgrade: /* @__PURE__ */ upgradeProbes(),
  lifecycle: /* @__PURE__ */ pageLifecycle(),
};

/**
 * The realtime client with everything: every transport (by name), plain mode (`protocol: 'plain'`),
 * upgrade probes, the page lifecycle and the persisted queue's storages. To bundle less, import
 * `RealtimeClient` from 'realtime-client/core' and pass what you use.
 */
export class RealtimeClient<In = unknown, Out = unknown> extends Client<In, Out> {
  constructor(url: string, options?: ClientOptions) {
    super(url, options, defaults);
  }
}

export * from './exports';
export * from './plain';
