import { CloseCode } from '../protocol';
import type { Env } from './env';
import type { Connection, OpenContext, Transport } from './transports/types';

/** What probing needs from the ladder. */
export interface ProbeHost {
  readonly url: string;
  readonly env: Env;
  /** probeInterval: how often to probe, in ms; 0 never. */
  readonly interval: number;
  /** heartbeat.timeout: a probe that has not opened by then failed. */
  readonly timeout: number;
  /** What a probe opens with: no token, since it sends nothing. */
  context(): OpenContext;
  /** The transport the client prefers. */
  first(): Transport;
  /** A probe of it opened: move the session over, by a resume. */
  upgrade(): void;
}

/** The probing of one client: scheduled when a session opens over a fallback, stopped with its connection. */
export interface Prober {
  schedule(): void;
  stop(): void;
}

/** Upgrade probing, as `options.upgrade`; `realtime-client` gives `upgradeProbes()` by default. */
export interface UpgradeProbes {
  attach(host: ProbeHost): Prober;
}

/**
 * After a fallback, tries the first transport every `probeInterval`; when one opens, the session
 * moves to it through a resume, so nothing is lost or repeated. A probe sends nothing: it only
 * checks that the transport opens.
 */
export const upgradeProbes = (): UpgradeProbes => ({ attach: (host) => new Probes(host) });

class Probes implements Prober {
  #timer: unknown;
  #conn: Connection | null = null;
  /** Bumped by stop(): callbacks of an earlier probe find it changed and do nothing. */
  #run = 0;

  constructor(private readonly host: ProbeHost) {}

  schedule(): void {
    const { env, interval } = this.host;
    if (interval) this.#timer = env.setTimeout(() => this.#probe(), interval);
  }

  stop(): void {
    this.#run++;
    this.host.env.clearTimeout(this.#timer);
    this.#close();
  }

  #close(): void {
    this.#conn?.close(CloseCode.NORMAL, 'probe');
    this.#conn = null;
  }

  #probe(): void {
    const { env, timeout, url } = this.host;
    const run = this.#run;
    /** Lets this probe go and schedules the next one, unless the client moved on meanwhile. */
    const again = () => {
      this.#close();
      if (run === this.#run) this.schedule();
    };
    const failed = () => {
      if (run !== this.#run) return;
      env.clearTimeout(this.#timer);
      again();
    };
    this.#timer = env.setTimeout(again, timeout);
    try {
      this.#conn = this.host.first().open(
        url,
        {
          onOpen: () => run === this.#run && this.host.upgrade(),
          onFrame() {},
          onClose: failed,
          onProtocolError: failed,
        },
        this.host.context(),
      );
    } catch {
      failed();
    }
  }
}
