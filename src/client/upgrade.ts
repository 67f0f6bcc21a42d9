import { CloseCode } from '../protocol';
import type { Env } from './env';
import type { Connection, OpenContext, Transport } from './transports/types';

/** How long a fallback transport is remembered, in ms: long enough to skip dead transports on the next pages, short enough to retry better ones. */
const REMEMBER = 30 * 60_000;

/** What the upgrade part needs from the ladder. */
export interface ProbeHost {
  readonly url: string;
  readonly env: Env;
  /** probeInterval: how often to probe, in ms; 0 never. */
  readonly interval: number;
  /** heartbeat.timeout: a probe that has not opened by then failed. */
  readonly timeout: number;
  /** What a probe opens with: no token, since it sends nothing. */
  context(): OpenContext;
  /** A probe of the first transport opened: move the session over, by a resume. */
  upgrade(): void;
}

/** What one client's ladder learned from its fallbacks: told when a run starts and when a session opens, stopped with its connection. */
export interface Prober {
  /** A run of attempts starts over `usable`: the index of the transport to start from. */
  start(usable: readonly Transport[]): number;
  /** A session opened over `usable[index]`; `resumable`: it may move to another transport. */
  opened(index: number, resumable: boolean): void;
  stop(): void;
}

/** What follows a fallback, as `options.upgrade`; `realtime-client` gives `upgradeProbes()` by default. */
export interface UpgradeProbes {
  attach(host: ProbeHost): Prober;
}

/**
 * What follows a fallback. The transport that worked is remembered for 30 minutes per URL
 * (`env.storage`, sessionStorage by default), so the next page loads skip the transports that
 * failed; and the first transport is tried every `probeInterval`: when it opens, the session
 * moves to it through a resume, so nothing is lost or repeated. A probe sends nothing: it only
 * checks that the transport opens. Without this part, every run starts from the first transport
 * and stays on the fallback until the connection is lost.
 */
export const upgradeProbes = (): UpgradeProbes => ({ attach: (host) => new Probes(host) });

class Probes implements Prober {
  #usable: readonly Transport[] = [];
  #timer: unknown;
  #conn: Connection | null = null;
  /** Bumped by stop(): callbacks of an earlier probe find it changed and do nothing. */
  #run = 0;

  constructor(private readonly host: ProbeHost) {}

  get #key(): string {
    return `realtime-client ${this.host.url}`;
  }

  /** The transport that worked on an earlier page, if it was a fallback and not too long ago. */
  start(usable: readonly Transport[]): number {
    const { env } = this.host;
    this.#usable = usable;
    try {
      const record = env.storage?.getItem(this.#key) ?? '';
      const space = record.indexOf(' ');
      if (+record.slice(0, space) > env.now())
        return Math.max(
          0,
          usable.findIndex((t) => t.name === record.slice(space + 1)),
        );
    } catch {}
    return 0;
  }

  opened(index: number, resumable: boolean): void {
    const { env } = this.host;
    try {
      if (index) env.storage?.setItem(this.#key, `${env.now() + REMEMBER} ${this.#usable[index]!.name}`);
      else env.storage?.removeItem(this.#key);
    } catch {}
    // Plain endpoints cannot resume, so moving one to another transport could lose or repeat data.
    if (index && resumable) this.#schedule();
  }

  #schedule(): void {
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
      if (run === this.#run) this.#schedule();
    };
    const failed = () => {
      if (run !== this.#run) return;
      env.clearTimeout(this.#timer);
      again();
    };
    this.#timer = env.setTimeout(again, timeout);
    try {
      this.#conn = this.#usable[0]!.open(
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
