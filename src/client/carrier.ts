import type { Endpoint, EndpointHost } from './endpoint';
import type { ErrorCode } from './errors';
import type { LadderHost } from './ladder';
import type { Config } from './options';
import type { Restore } from './persisted-queue';
import type { ReconnectOptions } from './retry';
import type { Connection, Transport } from './transports/types';

/**
 * What the client drives to carry its session: a ladder over the transports, or a part composed
 * over ladders (tab sharing: one over a link to the tab holding the connection, one over the
 * transports for when this tab holds it).
 */
export interface Carrier {
  /** The transport carrying the current connection, or the last one, or null before any. */
  readonly transport: string | null;
  readonly connection: Connection | null;
  /** Starts a run of attempts. */
  start(): void;
  /** The session opened: watch it with `deadline` ms (0: not at all). */
  opened(deadline: number): void;
  /** Checks liveness now. */
  check(): void;
  /** While waiting between attempts, attempts at once. */
  retryNow(): void;
  /** Ends the current connection from this side, and handles the loss as `outcome`. */
  drop(code: number, reason: string, outcome?: number): void;
  /** Reports a server frame we will not take, then replaces the connection. */
  refuse(code: ErrorCode, message: string, closeCode: number): void;
  /** Lets the connection go but keeps the session, until retryNow(). */
  leave(reason: string): void;
  /** Stops for good (close()). */
  stop(code: number, reason: string): void;
  /**
   * True when it takes the persisted queue (`queue.persist`) over itself, through
   * {@link CarrierParts.ownQueue}, when it comes to hold the connection; otherwise the client takes
   * it before the first attempt.
   */
  readonly ownsQueue?: boolean;
}

/** What the client hands the part that builds its endpoint and carrier. */
export interface CarrierParts {
  readonly url: string;
  readonly config: Config;
  /** What the endpoint reports to the client. */
  readonly endpointHost: EndpointHost;
  readonly ladderHost: LadderHost;
  /**
   * A ladder driving `endpoint`: over the configured transports with the upgrade probes, or over
   * `transports` alone with none; reporting to `host` (default: the client), reconnecting as
   * `reconnect` says (default: options.reconnect).
   */
  ladder(
    endpoint: Endpoint,
    transports?: Transport[],
    host?: LadderHost,
    reconnect?: ReconnectOptions | false,
  ): Carrier;
  /**
   * Takes the persisted queue over (`queue.persist`; settles at once without it), handing what an
   * earlier page left to `restore`: for a carrier that {@link Carrier.ownsQueue}. `steal`: from
   * the tab holding it, which stopped answering.
   */
  readonly ownQueue: (restore: Restore, steal?: boolean) => Promise<void>;
  /**
   * Lets go of the persisted queue, for the next tab holding the connection (`queue.persist`;
   * nothing without it), after a last save unless `save` is false.
   */
  readonly releaseQueue: (save?: boolean) => void;
}

/**
 * Builds a client's endpoint and carrier, as `options.share` (`tabSharing()` from
 * 'realtime-client/share'). Without it, the endpoint of `options.protocol` over one ladder.
 */
export interface Sharing {
  attach(parts: CarrierParts): { endpoint: Endpoint; carrier: Carrier };
}

/** One connection for this client alone: the default. */
export const ownConnection: Sharing = {
  attach: (p) => {
    const endpoint = p.config.protocol.create(p.endpointHost, p.config);
    return { endpoint, carrier: p.ladder(endpoint) };
  },
};
