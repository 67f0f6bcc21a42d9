import { CloseCode } from '../../protocol';
import type { Carrier, CarrierParts } from '../carrier';
import type { Endpoint } from '../endpoint';
import type { Env } from '../env';
import type { LadderHost } from '../ladder';
import type { Connection } from '../transports/types';
import { Mirror, type TabMessage } from './channel';
import { tabLink, type LinkHost, type TabLink } from './link';
import { Relay, tabLock, type RelayHost } from './relay';

/**
 * One client's share of the connection: it follows the tab holding the connection (over a link,
 * with one ladder) until its own request for the leader lock is granted, then holds the
 * connection itself (with the other ladder, over the transports), taking the session over.
 * Only the role says which ladder runs; the client sees one carrier.
 */
export class SharedCarrier implements Carrier, LinkHost, RelayHost {
  readonly tab: string;
  readonly url: string;
  readonly env: Env;
  #role: 'follower' | 'leader' = 'follower';
  link: TabLink | undefined;
  leaderTransport: string | null = null;
  held: Promise<void> = Promise.resolve();
  readonly #mirror = new Mirror();
  readonly #relay: Relay;
  readonly endpoint: Endpoint;
  readonly #follower: Carrier;
  readonly #leader: Carrier;
  readonly #host: LadderHost;
  /** While the client runs: its channel, and what lets go of its locks. */
  #channel: BroadcastChannel | undefined;
  #locks: AbortController | undefined;
  #letGo: Array<() => void> = [];

  constructor(parts: CarrierParts) {
    const { config, url } = parts;
    this.url = url;
    this.env = config.env;
    this.#host = parts.ladderHost;
    // Unique among the tabs (env.random may be a test's constant): it names this tab's lock.
    this.tab = globalThis.crypto?.randomUUID?.() ?? `${config.env.now()}-${Math.random()}`;
    this.#relay = new Relay(this, parts.endpointHost.outbox);
    const inner = config.protocol.create(this.#relay.endpointHost(parts.endpointHost), config);
    this.endpoint = this.#relay.endpoint(inner);
    // A ladder that gives up ends the client without stop(): the locks and channel go too.
    const host = parts.ladderHost;
    const ladderHost: LadderHost = {
      get state() {
        return host.state;
      },
      setState: (e) => host.setState(e),
      emit: host.emit,
      finish: (detail, error) => {
        this.#end();
        host.finish(detail, error);
      },
      disconnected: () => host.disconnected(),
    };
    this.#follower = parts.ladder(this.endpoint, [tabLink(this)], ladderHost);
    this.#leader = parts.ladder(this.endpoint, undefined, ladderHost);
  }

  get leading(): boolean {
    return this.#role === 'leader';
  }

  get #active(): Carrier {
    return this.leading ? this.#leader : this.#follower;
  }

  get transport(): string | null {
    return this.#active.transport;
  }

  get connection(): Connection | null {
    return this.#active.connection;
  }

  start(): void {
    // Started first: the lock may be granted at once, and leading then stops the follower's ladder.
    this.#active.start();
    if (!this.#channel) this.#join();
  }

  opened(deadline: number): void {
    this.#active.opened(deadline);
  }

  check(): void {
    this.#active.check();
  }

  retryNow(): void {
    this.#active.retryNow();
  }

  drop(code: number, reason: string, outcome?: number): void {
    this.#active.drop(code, reason, outcome);
  }

  refuse(...args: Parameters<Carrier['refuse']>): void {
    this.#active.refuse(...args);
  }

  leave(reason: string): void {
    this.#active.leave(reason);
  }

  /**
   * close(): a leader with followers hands the session over (its connection goes as a page's
   * would, and the session stays resumable for the next leader); otherwise it ends as usual.
   */
  stop(code: number, reason: string): void {
    if (this.leading && this.#relay.followed) this.#leader.stop(CloseCode.GOING_AWAY, 'handing over to another tab');
    else this.#active.stop(code, reason);
    this.#end();
  }

  readonly post = (m: TabMessage): void => this.#channel?.postMessage(m);

  position(): number | null {
    const s = this.endpoint.snapshot();
    return s.sid ? s.a : null;
  }

  begin(a: number): void {
    if (!this.endpoint.snapshot().sid) this.endpoint.restore({ sid: this.tab, key: this.tab, a });
  }

  /** Joins the tabs of this URL: the channel, this tab's lock, and the queue for the leader lock. */
  #join(): void {
    const { env, url } = this;
    const channel = (this.#channel = new env.BroadcastChannel!(`realtime-client share ${url}`));
    channel.onmessage = (e: MessageEvent<TabMessage>) => this.#take(e.data);
    const locks = env.locks!;
    const abort = (this.#locks = new AbortController());
    const hold = (grant: () => void) =>
      new Promise<void>((release) => {
        this.#letGo.push(release);
        grant();
      });
    this.held = new Promise<void>((held) => {
      locks.request(tabLock(url, this.tab), { signal: abort.signal }, () => hold(held)).catch(() => {});
    });
    locks
      .request(`realtime-client share ${url}`, { signal: abort.signal }, () =>
        abort.signal.aborted ? undefined : hold(() => this.#lead()),
      )
      .catch(() => {});
  }

  #take(m: TabMessage): void {
    if (this.leading) return this.#relay.take(m);
    this.#mirror.take(m);
    this.link?.take(m);
    // A leader is ready: a follower waiting out its backoff links at once.
    if (m.t === 'ready') this.#follower.retryNow();
  }

  /** The lock is granted: the last leader is gone (or there was none). */
  #lead(): void {
    const open = this.#host.state === 'open';
    // Stopped quietly while still connecting; an open link is left, as a connection lost is.
    if (open) this.#follower.leave('the tab holding the connection went away');
    else this.#follower.stop(CloseCode.GOING_AWAY, 'this tab holds the connection now');
    this.#role = 'leader';
    this.#relay.takeOver(this.#mirror, this.endpoint);
    this.#mirror.clear();
    if (this.#host.state !== 'closed') this.#leader.start();
  }

  /** The client stopped: its channel, locks and role go. */
  #end(): void {
    this.#locks?.abort();
    for (const release of this.#letGo) release();
    this.#letGo = [];
    this.#channel?.close();
    this.#channel = this.#locks = this.link = undefined;
    this.#role = 'follower';
    this.#relay.reset();
    this.#mirror.clear();
    this.#mirror.session = undefined;
  }
}
