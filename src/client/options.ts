import { MIN_FRAME_LIMIT, type TransportName } from '../protocol';
import type { Sharing } from './carrier';
import type { EndpointOptions, Protocol } from './endpoint';
import { resolveEnv, type Env } from './env';
import { checkNames, checkUrl } from './checks';
import { RealtimeError } from './errors';
import type { PageLifecycle } from './lifecycle';
import type { QueueStorage } from './persist';
import { defaultQueue, type QueueOptions } from './queue';
import { defaultReconnect, type ReconnectOptions } from './retry';
import { v1 } from './session';
import type { Transport } from './transports/types';
import type { UpgradeProbes } from './upgrade';

export interface HeartbeatOptions {
  /**
   * Grace after the server's announced ping interval (protocol v1, believed up to 5 minutes): with
   * no frame for interval + timeout, the connection is treated as dead and replaced. Also bounds
   * how long a connection attempt may take before its first frame, and how long a long-poll
   * answer may go on past the poll's `wait`. With `share`, a tab holding the connection that says
   * nothing for 2 × this is taken over by another.
   * @default 10000
   */
  timeout?: number;
  /** Plain mode: with no frame for this long, the connection is treated as dead. `0` turns it off. @default 60000 */
  idleTimeout?: number;
}

export interface ClientOptions {
  /**
   * Transports in order of preference, by name or as transport objects. When one fails to open,
   * the next is tried at once. Names resolve among the transports the entry point includes that
   * fit the protocol ('realtime-client': all; 'realtime-client/core': none, so pass objects).
   * @default ['websocket', 'sse', 'fetch-stream', 'long-poll'] (those the build includes)
   */
  transports?: Array<TransportName | (string & {}) | Transport>;
  /**
   * 'v1' speaks the realtime-client protocol (acks, resume); 'plain' talks to any endpoint. With
   * 'realtime-client/core', plain mode is the `plain` object from 'realtime-client/plain'.
   * @default 'v1'
   */
  protocol?: 'v1' | 'plain' | Protocol;
  /** Connect from the constructor. @default true */
  autoConnect?: boolean;
  /**
   * Reconnect policy, or `false` to never reconnect (with `share`: the connection this tab holds;
   * a tab following another follows the next holder).
   * @default { initialDelay: 1000, maxDelay: 30000, factor: 2, maxAttempts: Infinity, resetAfter: 5000 }
   */
  reconnect?: Partial<ReconnectOptions> | false;
  /** Dead-connection detection. @default { timeout: 10000, idleTimeout: 60000 } */
  heartbeat?: HeartbeatOptions;
  /** Bounds on messages waiting to be sent or acknowledged. @default { maxMessages: 1000, maxBytes: 1048576 } */
  queue?: Partial<QueueOptions>;
  /**
   * Returns the token for the next connect attempt; called before every attempt so it can refresh.
   * The transports one attempt tries share it: only the one that opens first sends it.
   * It travels as `Authorization: Bearer` on the POST carrying hello (SSE, fetch-stream,
   * long-poll) or in the hello frame (WebSocket), never in a URL, log or error message. A refusal
   * (close 4401, HTTP 401 or 403) asks again; after 3 in a row the client stops with 'unauthorized'.
   * @default undefined
   */
  auth?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Longest wait before a standalone ack, when no outgoing frame carries it, in ms. @default 50 */
  ackDelay?: number;
  /**
   * How long a transport may take to open, in ms, before the next one starts alongside it; the
   * first to open carries the session and the others are closed. Behind a proxy that buffers
   * streams, this is what a fresh page waits per transport that never delivers, instead of
   * `heartbeat.timeout`. `Infinity`: one at a time, the next only when one fails.
   * @default 1000
   */
  fallbackAfter?: number;
  /**
   * After falling back to a worse transport, how often to probe the first one, in ms; when it
   * opens, the session moves over to it. `0` turns probing off. Needs `upgrade`.
   * @default 30000
   */
  probeInterval?: number;
  /**
   * What follows a fallback: `upgradeProbes()`, which remembers the transport that worked per URL
   * (sessionStorage, 30 minutes) for the next page loads, and probes the first one (see probeInterval).
   * @default upgradeProbes() with 'realtime-client'; none with 'realtime-client/core'
   */
  upgrade?: UpgradeProbes;
  /**
   * Page and network events: liveness checked when the page comes back, 'online' retrying at once
   * with no attempt spent offline, the back/forward cache: `pageLifecycle()`.
   * @default pageLifecycle() with 'realtime-client'; none with 'realtime-client/core'
   */
  lifecycle?: PageLifecycle;
  /**
   * Largest frame accepted from the server, in bytes of UTF-8 (plain mode: one line, event or
   * response). Announced in hello so a v1 server splits its batches to fit. A larger frame is
   * refused with a 'message-too-large' error and the connection is replaced after backoff; a
   * transport that gathers a frame piecewise stops reading once past this limit, so a faulty
   * server cannot exhaust memory. The default matches the reference server's maxMessageBytes,
   * so by default either side takes whatever the other may send. At least 256.
   * @default 1048576
   */
  maxFrameSize?: number;
  /**
   * One connection for all the tabs of this origin that open this URL: `tabSharing()` from
   * 'realtime-client/share' (a separate import, so clients that do not share carry none of it).
   * One tab, elected by a Web Lock, holds the connection; the others talk to it over a
   * BroadcastChannel, each keeping the whole API; when it goes, another takes the session over.
   * @default undefined (each client has its own connection)
   */
  share?: Sharing;
  /** Platform globals, for workers, tests and non-browser hosts. @default globalThis's */
  env?: Partial<Env>;
}

export interface SendOptions {
  /** Give up on the message, rejecting with 'expired', if it could not be sent within this many ms (e.g. while offline). @default none */
  ttl?: number;
  /** 'Latest value wins': a newer message with the same key replaces this one while both wait to be sent; its promise settles with the newer one's. @default none */
  key?: string;
}

/** What an entry point gives its client: what options may name, and the parts it composes by default. */
export interface Defaults {
  transports?: Transport[];
  storages?: QueueStorage[];
  /** Protocols besides 'v1', which is always known. */
  protocols?: Protocol[];
  upgrade?: UpgradeProbes;
  lifecycle?: PageLifecycle;
}

/** The options checked, with their defaults and names resolved. */
export interface Config extends EndpointOptions {
  env: Env;
  protocol: Protocol;
  transports: Transport[];
  reconnect: ReconnectOptions | false;
  resetAfter: number;
  queue: QueueOptions;
  storage: QueueStorage | undefined;
  fallbackAfter: number;
  probeInterval: number;
  upgrade: UpgradeProbes | undefined;
  lifecycle: PageLifecycle | undefined;
  share: Sharing | undefined;
  autoConnect: boolean;
}

/** Every option's name, to refuse a misspelt one (listsEvery below checks the lists against the types). */
const OPTION_NAMES = [
  'transports',
  'protocol',
  'autoConnect',
  'reconnect',
  'heartbeat',
  'queue',
  'auth',
  'ackDelay',
  'fallbackAfter',
  'probeInterval',
  'upgrade',
  'lifecycle',
  'maxFrameSize',
  'share',
  'env',
] as const;
const NESTED_NAMES = {
  reconnect: ['initialDelay', 'maxDelay', 'factor', 'maxAttempts', 'resetAfter'],
  heartbeat: ['timeout', 'idleTimeout'],
  queue: ['maxMessages', 'maxBytes', 'persist'],
} as const;

/** True only when `List` names every key of `T` and nothing else: a type check, compiled to nothing. */
type ListsEvery<T, List extends readonly string[]> = [
  Exclude<keyof T, List[number]>,
  Exclude<List[number], keyof T>,
] extends [never, never]
  ? true
  : false;
const listsEvery: [
  ListsEvery<ClientOptions, typeof OPTION_NAMES>,
  ListsEvery<ReconnectOptions, typeof NESTED_NAMES.reconnect>,
  ListsEvery<HeartbeatOptions, typeof NESTED_NAMES.heartbeat>,
  ListsEvery<QueueOptions, typeof NESTED_NAMES.queue>,
] = [true, true, true, true];
void listsEvery;

export function configure(url: string, o: ClientOptions, defaults: Defaults): Config {
  if (typeof o !== 'object' || o === null)
    throw invalid(
      `options must be an object, such as { transports: ['websocket'] }; got ${o === null ? 'null' : typeof o}`,
    );
  checkNames('', o, OPTION_NAMES);
  for (const [name, known] of Object.entries(NESTED_NAMES)) {
    const given: unknown = o[name as keyof typeof NESTED_NAMES];
    if (typeof given === 'object' && given !== null) checkNames(`${name}.`, given, known);
  }
  const env = resolveEnv(o.env);
  checkUrl(url, env.baseUrl);
  const given: unknown = o.transports; // typed as an array, but JavaScript callers pass anything
  if (given !== undefined && !Array.isArray(given)) {
    throw invalid(
      `options.transports must be an array of transport names or objects, such as ['websocket']; got ${typeof given === 'string' ? `the string '${given}'` : typeof given}`,
    );
  }
  const protocol =
    typeof o.protocol === 'object'
      ? o.protocol
      : named('protocol', o.protocol ?? 'v1', [v1, ...(defaults.protocols ?? [])]);
  const fits = (t: Transport) => !t.protocol || t.protocol === protocol.name;
  const available = (defaults.transports ?? []).filter(fits);
  const transports = (o.transports ?? available).map((t) =>
    typeof t === 'string' || !t ? named('transport', t, available) : t,
  );
  if (!transports.length) throw invalid('options.transports is empty');
  const misfit = transports.find((t) => !fits(t));
  if (misfit)
    throw invalid(
      `transport ${misfit.name} is made for protocol ${misfit.protocol}, and this client speaks ${protocol.name}: use that protocol's ${misfit.name} transport`,
    );
  const reconnect = o.reconnect === false ? false : { ...defaultReconnect, ...o.reconnect };
  const persist = o.queue?.persist;
  const maxFrame = o.maxFrameSize ?? 1048576;
  if (!Number.isSafeInteger(maxFrame) || maxFrame < MIN_FRAME_LIMIT)
    throw invalid(`maxFrameSize ${maxFrame}: give a whole number >= ${MIN_FRAME_LIMIT}`);
  return {
    env,
    protocol,
    transports,
    reconnect,
    resetAfter: (reconnect || defaultReconnect).resetAfter,
    timeout: o.heartbeat?.timeout ?? 10000,
    idleTimeout: o.heartbeat?.idleTimeout ?? 60000,
    ackDelay: o.ackDelay ?? 50,
    queue: { ...defaultQueue, ...o.queue },
    storage: !persist
      ? undefined
      : typeof persist === 'string'
        ? named('queue.persist', persist, defaults.storages ?? [])
        : persist,
    auth: o.auth,
    maxFrame,
    fallbackAfter: o.fallbackAfter ?? 1000,
    probeInterval: o.probeInterval ?? 30000,
    upgrade: o.upgrade ?? defaults.upgrade,
    lifecycle: o.lifecycle ?? defaults.lifecycle,
    share: o.share,
    autoConnect: o.autoConnect !== false,
  };
}

export function invalid(message: string): RealtimeError {
  return new RealtimeError('invalid-argument', message);
}

/** The item called `name` among those this build includes, or an error naming them. */
function named<T extends { name: string }>(option: string, name: unknown, available: T[]): T {
  const found = available.find((a) => a.name === name);
  if (!found)
    throw invalid(`unknown ${option} ${String(name)}: import it, or use ${available.map((a) => a.name).join(',')}`);
  return found;
}
