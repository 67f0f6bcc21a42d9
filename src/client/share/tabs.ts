import { CloseCode } from '../../protocol';
import type { Carrier, CarrierParts } from '../carrier';
import type { Endpoint } from '../endpoint';
import { RealtimeError } from '../errors';
import type { Env } from '../env';
import type { LadderHost } from '../ladder';
import type { Restore } from '../persisted-queue';
import { v1 } from '../session';
import type { Connection } from '../transports/types';
import { Mirror, type TabMessage } from './channel';
import { tabLink, type LinkHost, type TabLink } from './link';
import { Relay, tabLock, type RelayHost } from './relay';

/** The channel of the tabs sharing `url`'s connection, and the lock its holder holds: one per origin and URL. */
const shareName = (url: string): string => `realtime-client share ${url}`;

/** The longest a tab taking over waits for the channel to be read up to now, in ms. */
const DRAIN_WAIT = 200;

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
  session: string | null = null;
  held: Promise<void> = Promise.resolve();
  readonly #mirror = new Mirror();
  readonly #relay: Relay;
  readonly endpoint: Endpoint;
  /** Whether a successor can go on where this tab's connection stands: a session to resume, or a position to resume from. */
  readonly shareable: boolean;
  readonly #follower: Carrier;
  readonly #leader: Carrier;
  readonly #host: LadderHost;
  readonly #ownQueue: CarrierParts['ownQueue'];
  /** The persisted queue (`queue.persist`) of the URL goes with the connection: the tab holding it owns the queue. */
  readonly ownsQueue = true;
  /** While the client runs: its channel, and what lets go of its locks. */
  #channel: BroadcastChannel | undefined;
  #locks: AbortController | undefined;
  #letGo: Array<() => void> = [];

  constructor(parts: CarrierParts) {
    const { config, url } = parts;
    this.url = url;
    this.env = config.env;
    this.#host = parts.ladderHost;
    this.#ownQueue = parts.ownQueue;
    // Unique among the tabs (env.random may be a test's constant): it names this tab's lock.
    this.tab = globalThis.crypto?.randomUUID?.() ?? `${config.env.now()}-${Math.random()}`;
    this.#relay = new Relay(this, parts.endpointHost.outbox);
    const host = this.#relay.endpointHost(parts.endpointHost);
    const inner = config.protocol.create(host, config);
    this.shareable = inner.resumable || inner.position !== undefined;
    // The tabs speak v1 to each other: a protocol that numbers no messages (plain mode) has a v1
    // endpoint of its own for the link, and the relay numbers what its connection delivers.
    const link = inner.resumable ? inner : v1.create(host, config);
    this.endpoint = this.#relay.endpoint(inner, link);
    // A ladder that gives up ends the client without stop(): the locks and channel go too.
    const client = parts.ladderHost;
    const ladderHost: LadderHost = {
      get state() {
        return client.state;
      },
      setState: (e) => client.setState(e),
      emit: client.emit,
      finish: (detail, error) => {
        this.#end();
        client.finish(detail, error);
      },
      disconnected: () => client.disconnected(),
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
    const joining = !this.#channel;
    if (joining) this.#open();
    // Started before the lock is asked for: it may be granted at once, and leading then stops the follower's ladder.
    this.#active.start();
    if (joining) this.#elect();
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

  begin(a: number, lost: boolean): void {
    if (lost)
      this.#host.emit(
        'error',
        new RealtimeError(
          'session-lost',
          'share: this tab was cut off from the tab holding the connection for too long: messages from the server were missed; reload state',
        ),
      );
    if (lost || !this.endpoint.snapshot().sid) this.endpoint.restore({ sid: this.tab, key: this.tab, a });
  }

  /** Joins the tabs of this URL: the channel, and this tab's lock (a link joins once it is held). */
  #open(): void {
    const { env, url } = this;
    const channel = (this.#channel = new env.BroadcastChannel!(shareName(url)));
    channel.onmessage = (e: MessageEvent<TabMessage>) => this.#take(e.data);
    const abort = (this.#locks = new AbortController());
    this.held = new Promise<void>((held) => {
      env.locks!.request(tabLock(url, this.tab), { signal: abort.signal }, () => this.#hold(held)).catch(() => {});
    });
  }

  /** Holds a lock until the client stops. */
  #hold(granted: () => void): Promise<void> {
    return new Promise<void>((release) => {
      this.#letGo.push(release);
      granted();
    });
  }

  /** Queues for the leader lock. */
  #elect(): void {
    const { env, url } = this;
    const abort = this.#locks!;
    env
      .locks!.request(shareName(url), { signal: abort.signal }, () =>
        abort.signal.aborted ? undefined : this.#hold(() => this.#lead()),
      )
      .catch(() => {});
  }

  #take(m: TabMessage): void {
    if (this.leading) return this.#relay.take(m);
    this.#mirror.take(m);
    this.#relay.note(m);
    // Recorded: the leader may send them (see Relay: nothing goes out before every tab has it).
    if ((m.t === 'sent' || m.t === 'state') && this.link)
      this.post({ t: 'have', tab: this.tab, s: this.#mirror.recorded });
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
    const channel = this.#channel;
    const stopped = () => this.#channel !== channel || this.#host.state === 'closed';
    void this.#drain().then(async () => {
      if (stopped()) return;
      // The persisted queue comes with the connection: what the last holder saved, once it let go.
      let saved: Parameters<Restore> | undefined;
      await this.#ownQueue((...taken) => (saved = taken));
      if (stopped()) return;
      this.#role = 'leader';
      this.#relay.takeOver(this.#mirror, saved);
      this.#mirror.clear();
      this.#leader.start();
    });
  }

  /**
   * Settles once this tab has read what the last leader posted before it went: the lock can be
   * granted before the channel's last messages are read, and a successor working from an older
   * copy would send again what the server already has. A message this tab posts now comes back
   * (to a second channel of its own) after them; a bounded wait in case it never does.
   */
  #drain(): Promise<void> {
    const { env, url } = this;
    const id = `${this.tab}-${env.now()}`;
    const probe = new env.BroadcastChannel!(shareName(url));
    return new Promise<void>((done) => {
      const timer = env.setTimeout(done, DRAIN_WAIT);
      probe.onmessage = (e: MessageEvent<TabMessage>) => {
        if (e.data.t !== 'drain' || e.data.id !== id) return;
        env.clearTimeout(timer);
        done();
      };
      this.post({ t: 'drain', id });
    }).finally(() => probe.close());
  }

  /** The client stopped: its channel, locks and role go. */
  #end(): void {
    this.#locks?.abort();
    for (const release of this.#letGo) release();
    this.#letGo = [];
    this.#channel?.close();
    this.#channel = this.#locks = this.link = undefined;
    this.session = null;
    this.#role = 'follower';
    this.#relay.reset();
    this.#mirror.clear();
    this.#mirror.session = undefined;
  }
}
