import { CloseCode } from '../../protocol';
import type { Carrier, CarrierParts } from '../carrier';
import type { Endpoint } from '../endpoint';
import type { Env } from '../env';
import type { LadderHost } from '../ladder';
import { v1 } from '../session';
import type { Connection } from '../transports/types';
import { Mirror, type Posted, type TabMessage } from './channel';
import { Following, tabLink } from './link';
import { readUpToNow, shareName, TabLocks } from './locks';
import { Relay, type RelayHost } from './relay';
import { Succession, type Role } from './succession';
import { HolderWatch, watchPage } from './watch';
import { defaultReconnect } from '../retry';

/**
 * One client's share of the connection: it follows the tab holding the connection (over a link,
 * with one ladder) until its own request for the leader lock is granted, then holds the
 * connection itself (with the other ladder, over the transports), taking the session over.
 * Only the role says which ladder runs (see Succession for the steps between roles); the client
 * sees one carrier.
 */
export class SharedCarrier implements Carrier, RelayHost {
  readonly tab: string;
  readonly url: string;
  readonly env: Env;
  readonly #mirror = new Mirror();
  readonly #relay: Relay;
  readonly endpoint: Endpoint;
  /** Whether a successor can go on where this tab's connection stands: a session to resume, or a position to resume from. */
  readonly shareable: boolean;
  readonly #follower: Carrier;
  readonly #leader: Carrier;
  /** The persisted queue (`queue.persist`) of the URL goes with the connection: the tab holding it owns the queue. */
  readonly ownsQueue = true;
  /** While the client runs: its channel, and what stops its watch on the page. */
  #channel: BroadcastChannel | undefined;
  #unwatchPage: (() => void) | undefined;
  readonly #locks: TabLocks;
  readonly #watch: HolderWatch;
  readonly #following: Following;
  readonly #succession: Succession;

  constructor(parts: CarrierParts) {
    const { config, url } = parts;
    this.url = url;
    this.env = config.env;
    // Unique among the tabs (env.random may be a test's constant): it names this tab's lock.
    this.tab = globalThis.crypto?.randomUUID?.() ?? `${config.env.now()}-${Math.random()}`;
    this.#relay = new Relay(this, parts.endpointHost.outbox);
    this.#locks = new TabLocks({
      tab: this.tab,
      url,
      env: this.env,
      granted: (ballot, stole) => this.#succession.lead(ballot, stole),
      stolen: (ballot) => this.#succession.stolen(ballot),
    });
    const host = this.#relay.endpointHost(parts.endpointHost);
    const inner = config.protocol.create(host, config);
    this.shareable = inner.resumable || inner.position !== undefined;
    // The tabs speak v1 to each other: a protocol that numbers no messages (plain mode) has a v1
    // endpoint of its own for the link, and the relay numbers what its connection delivers.
    const link = inner.resumable ? inner : v1.create(host, config);
    this.endpoint = this.#relay.endpoint(inner, link);
    this.#following = new Following(this.tab, this.endpoint, parts.ladderHost.emit, this.post, this.#locks);
    // The client's, but a ladder that gives up ends the client without stop(): see #finish().
    const client = parts.ladderHost;
    const ladderHost = Object.create(client) as LadderHost;
    ladderHost.finish = (...args) => this.#finish(() => client.finish(...args));
    // A follower's link ends when another tab takes the connection: `reconnect: false` is about
    // the connection this tab holds, so a follower always follows.
    this.#follower = parts.ladder(
      this.endpoint,
      [tabLink(this.#following)],
      ladderHost,
      config.reconnect || defaultReconnect,
    );
    this.#leader = parts.ladder(this.endpoint, undefined, ladderHost);
    this.#watch = new HolderWatch({
      env: this.env,
      timeout: config.timeout,
      probe: () => this.post({ t: 'probe' }),
      drain: () => this.#drain(),
      // A lock per silent holder says which of the tabs that noticed takes over (see TabLocks).
      take: async (holder) => this.#role === 'follower' && this.#locks.takeFrom(holder, () => this.#watch.silent),
    });
    this.#succession = new Succession({
      locks: this.#locks,
      watch: this.#watch,
      follower: this.#follower,
      leader: this.#leader,
      host: parts.ladderHost,
      relay: this.#relay,
      mirror: this.#mirror,
      following: this.#following,
      endpoint: this.endpoint,
      ownQueue: parts.ownQueue,
      releaseQueue: parts.releaseQueue,
      drain: () => this.#drain(),
      channel: () => this.#channel,
    });
  }

  get leading(): boolean {
    return this.#role === 'leader';
  }

  get #role(): Role {
    return this.#succession.role;
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
    const joining = !this.#channel;
    if (joining) this.#open();
    // Started before the lock is asked for: it may be granted at once, and leading then stops the follower's ladder.
    this.#active.start();
    if (joining) {
      this.#locks.elect();
      this.#watch.start();
    }
  }

  opened(deadline: number): void {
    this.#active.opened(deadline);
  }

  check(): void {
    this.#active.check();
    if (this.#role === 'follower') this.#watch.check();
  }

  retryNow(): void {
    if (this.#role === 'away') this.#succession.back();
    else this.#active.retryNow();
  }

  drop(code: number, reason: string, outcome?: number): void {
    this.#active.drop(code, reason, outcome);
  }

  refuse(...args: Parameters<Carrier['refuse']>): void {
    this.#active.refuse(...args);
  }

  /** The page enters the back/forward cache: see Succession.away(). */
  leave(reason: string): void {
    if (this.#channel) this.#succession.away(reason);
    else this.#active.leave(reason);
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

  get session(): string | null {
    return this.#following.session;
  }

  readonly post = (m: TabMessage): void => this.#channel?.postMessage({ ...m, by: this.tab, term: this.#watch.term });

  /** Joins the tabs of this URL: the channel, the page's lifecycle, and this tab's lock (a link joins once it is held). */
  #open(): void {
    const channel = (this.#channel = new this.env.BroadcastChannel!(shareName(this.url)));
    channel.onmessage = (e: MessageEvent<Posted>) => this.#take(e.data);
    this.#unwatchPage = watchPage(
      this.env,
      () => this.#succession.away('page frozen'),
      () => this.#succession.back(),
    );
    this.#locks.join();
  }

  #take(m: Posted): void {
    if (this.leading) return this.#relay.take(m);
    if (!this.#watch.hears(m)) return;
    this.#mirror.take(m);
    this.#relay.note(m);
    // Recorded: the leader may send them (see SendGate: nothing goes out before every tab has it).
    const { link } = this.#following;
    if ((m.t === 'sent' || m.t === 'state') && link) this.post({ t: 'have', tab: this.tab, s: this.#mirror.recorded });
    link?.take(m);
    // A leader is ready: a follower waiting out its backoff links at once.
    if (m.t === 'ready' && this.#role === 'follower') this.#follower.retryNow();
  }

  /**
   * Settles once this tab has read what the last leader posted before it went: the lock can be
   * granted before the channel's last messages are read, and a successor working from an older
   * copy would send again what the server already has.
   */
  readonly #drain = () => readUpToNow(this.env, shareName(this.url), this.tab, this.post);

  /**
   * A ladder gave up: the client ends, and its locks and channel go too. A holder that stood
   * still may find its connection closed for good ('replaced': the tab that took its lock resumed
   * the session) before it hears that its lock was taken: it reads what is due first, and robbed
   * meanwhile, it follows (see Succession.stolen()) instead of ending.
   */
  #finish(finish: () => void): void {
    const end = () => {
      this.#end();
      finish();
    };
    if (!this.leading) return end();
    void this.#drain().then(() => this.leading && end());
  }

  /** The client stopped: its channel, locks and role go. */
  #end(): void {
    this.#unwatchPage?.();
    this.#watch.stop();
    this.#locks.end();
    this.#channel?.close();
    this.#channel = this.#unwatchPage = undefined;
    this.#following.reset();
    this.#succession.end();
    this.#relay.reset();
    this.#mirror.clear();
    this.#mirror.session = undefined;
  }
}
