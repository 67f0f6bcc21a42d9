import { CloseCode } from '../../protocol';
import type { Carrier, CarrierParts } from '../carrier';
import type { Endpoint } from '../endpoint';
import { RealtimeError } from '../errors';
import type { Env } from '../env';
import type { LadderHost } from '../ladder';
import type { Connection } from '../transports/types';
import { Mirror, type Posted, type TabMessage } from './channel';
import { tabLink, type LinkHost, type TabLink } from './link';
import { Relay, tabLock, type RelayHost } from './relay';
import { HolderWatch } from './watch';
import { defaultReconnect } from '../retry';

/** The channel of the tabs sharing `url`'s connection, and the lock its holder holds: one per origin and URL. */
const shareName = (url: string): string => `realtime-client share ${url}`;

/** The longest a tab taking over waits for the channel to be read up to now, in ms. */
const DRAIN_WAIT = 200;

/** What only the tab holding the connection posts: any of it shows that tab runs. */
const HOLDER_SAYS = new Set<TabMessage['t']>([
  'welcome',
  'msg',
  'acks',
  'sent',
  'acked',
  'session',
  'state',
  'ready',
  'down',
  'beat',
]);

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
  /** 'away': the page is frozen or in the back/forward cache; it holds nothing and asks for nothing. */
  #role: 'follower' | 'leader' | 'away' = 'follower';
  link: TabLink | undefined;
  leaderTransport: string | null = null;
  session: string | null = null;
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
  /** This tab's request for the leader lock, and what lets go of it (and of a lock taken from a silent holder). */
  #election: AbortController | undefined;
  #resign: Array<() => void> = [];
  readonly #watch: HolderWatch;
  /** The latest holder's term this tab heard of, or its own while it holds the connection (see Posted). */
  #term = 0;

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
        const finish = () => {
          this.#end();
          host.finish(detail, error);
        };
        if (!this.leading) return finish();
        // A holder that stood still may find its connection closed for good ('replaced': the tab
        // that took its lock resumed the session) before it hears that its lock was taken. It
        // reads what is due first; robbed meanwhile, it follows (see #stolen()) instead of ending.
        void this.#drain().then(() => this.leading && finish());
      },
      disconnected: () => host.disconnected(),
    };
    // A follower's link ends when another tab takes the connection: `reconnect: false` is about
    // the connection this tab holds, so a follower always follows.
    this.#follower = parts.ladder(this.endpoint, [tabLink(this)], ladderHost, config.reconnect || defaultReconnect);
    this.#leader = parts.ladder(this.endpoint, undefined, ladderHost);
    this.#watch = new HolderWatch({
      env: this.env,
      timeout: config.timeout,
      probe: () => this.post({ t: 'probe' }),
      silent: (holder) => this.#steal(holder),
    });
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
    if (joining) {
      this.#elect();
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
    if (this.#role === 'away') this.#back();
    else this.#active.retryNow();
  }

  drop(code: number, reason: string, outcome?: number): void {
    this.#active.drop(code, reason, outcome);
  }

  refuse(...args: Parameters<Carrier['refuse']>): void {
    this.#active.refuse(...args);
  }

  /** The page enters the back/forward cache: see #away(). */
  leave(reason: string): void {
    if (this.#channel) this.#away(reason);
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

  readonly post = (m: TabMessage): void => this.#channel?.postMessage({ ...m, by: this.tab, term: this.#term });

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
    channel.onmessage = (e: MessageEvent<Posted>) => this.#take(e.data);
    this.#listen('addEventListener');
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

  /**
   * Queues for the leader lock, or (`steal`) takes it from the tab holding it. The request of a
   * holder whose lock was taken rejects: it learns it no longer holds the connection.
   */
  #elect(steal = false): void {
    const { env, url } = this;
    const election = (this.#election = new AbortController());
    // A steal cannot be aborted (Web Locks refuse a signal with it); it is granted at once.
    const options: LockOptions = steal ? { steal } : { signal: election.signal };
    env
      .locks!.request(shareName(url), options, () =>
        election.signal.aborted
          ? undefined
          : new Promise<void>((release) => {
              this.#resign.push(release);
              this.#lead(election);
            }),
      )
      .catch(() => {
        if (!election.signal.aborted) this.#stolen(election);
      });
  }

  /**
   * The holder said nothing within the bound (see HolderWatch): it is hung, or frozen without a
   * word. One of the tabs that noticed takes the lock from it and resumes the session as after a
   * crash; a lock per silent holder says which one (the others wait to hear from it).
   */
  #steal(holder: string | undefined): void {
    const { env, url } = this;
    const election = this.#election;
    // Read what was posted up to now first: a page that stood still itself (frozen) may have its
    // answer waiting behind the timer that woke it.
    const quiet = this.#drain().then(() => this.#watch.silent);
    void quiet.then((silent) => {
      if (!silent) return;
      env
        .locks!.request(`${shareName(url)} taken from ${holder ?? 'a tab'}`, { ifAvailable: true }, (lock) => {
          if (this.#role !== 'follower') return;
          if (!lock || this.#election !== election) return this.#watch.start();
          election?.abort();
          this.#elect(true);
          return new Promise<void>((release) => this.#resign.push(release));
        })
        .catch(() => {});
    });
  }

  /**
   * Another tab took the lock from this one: it owns the session now. This tab lets its
   * connection go without a word to the others (they follow the new holder) and follows too:
   * its own messages go to the new holder, which drops those it already has.
   */
  #stolen(election: AbortController): void {
    if (election !== this.#election) return;
    election.abort(); // a takeover still draining does not go on
    this.#letLeadGo();
    if (this.leading) {
      // Before its connection goes, so that no 'down' goes to the tabs following the new holder.
      this.#relay.stepDown();
      this.session = this.endpoint.snapshot().sid ?? null;
      this.#leader.stop(CloseCode.GOING_AWAY, 'another tab holds the connection now');
      this.#role = 'follower';
      this.#follower.leave('another tab took the connection over');
    }
    // The follower's ladder was stopped or left when the lock came (#lead): it starts again.
    this.#follower.start();
    this.#elect();
    this.#watch.start();
  }

  /**
   * The page is frozen or enters the back/forward cache: a holder hands the session over as
   * close() does, and lets go of the lock; a follower unlinks. Neither asks for the lock while
   * away, so no frozen tab is granted it. #back() rejoins as a follower.
   */
  #away(reason: string): void {
    if (this.#role === 'away') return;
    if (this.leading) {
      this.#leader.stop(CloseCode.GOING_AWAY, 'handing over to another tab');
      this.#relay.stepDown();
      this.session = this.endpoint.snapshot().sid ?? null;
    }
    this.#election?.abort();
    this.#letLeadGo();
    this.#watch.stop();
    this.#role = 'away';
    this.#follower.leave(reason);
  }

  /** The page is back: it follows, and holds the connection again only if the lock is free. */
  #back(): void {
    if (this.#role !== 'away') return;
    this.#role = 'follower';
    this.#elect();
    this.#watch.start();
    this.#follower.retryNow();
  }

  readonly #onPage = (e: Event): void => {
    const cached = (e as PageTransitionEvent).persisted;
    if (e.type === 'freeze' || (e.type === 'pagehide' && cached)) this.#away('page frozen');
    else if (e.type === 'resume' || (e.type === 'pageshow' && cached)) this.#back();
  };

  #listen(method: 'addEventListener' | 'removeEventListener'): void {
    const { window, document } = this.env;
    for (const type of ['freeze', 'resume']) document?.[method](type, this.#onPage);
    for (const type of ['pagehide', 'pageshow']) window?.[method](type, this.#onPage);
  }

  #letLeadGo(): void {
    for (const release of this.#resign.splice(0)) release();
  }

  #take(m: Posted): void {
    if (this.leading) return this.#relay.take(m);
    if (HOLDER_SAYS.has(m.t)) {
      // A holder robbed of its lock may speak before it knows: once its successor spoke, it goes unheard.
      if (m.term < this.#term) return;
      this.#term = m.term;
      this.#watch.heard(m.by);
    }
    this.#mirror.take(m);
    // Recorded: the leader may send them (see Relay: nothing goes out before every tab has it).
    if ((m.t === 'sent' || m.t === 'state') && this.link)
      this.post({ t: 'have', tab: this.tab, s: this.#mirror.recorded });
    this.link?.take(m);
    // A leader is ready: a follower waiting out its backoff links at once.
    if (m.t === 'ready' && this.#role === 'follower') this.#follower.retryNow();
  }

  /** The lock is granted: the last leader is gone (or there was none, or it was taken from it). */
  #lead(election: AbortController): void {
    this.#watch.stop();
    const open = this.#host.state === 'open';
    // Stopped quietly while still connecting; an open link is left, as a connection lost is.
    if (open) this.#follower.leave('the tab holding the connection went away');
    else this.#follower.stop(CloseCode.GOING_AWAY, 'this tab holds the connection now');
    const channel = this.#channel;
    void this.#drain().then(() => {
      // Stopped, gone away or robbed of the lock meanwhile.
      if (this.#channel !== channel || this.#host.state === 'closed' || election.signal.aborted) return;
      this.#role = 'leader';
      this.#term = Math.max(this.env.now(), this.#term + 1);
      this.#relay.takeOver(this.#mirror, this.endpoint);
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
    this.#listen('removeEventListener');
    this.#watch.stop();
    this.#election?.abort();
    this.#letLeadGo();
    this.#locks?.abort();
    for (const release of this.#letGo) release();
    this.#letGo = [];
    this.#channel?.close();
    this.#channel = this.#locks = this.#election = this.link = undefined;
    this.session = null;
    this.#role = 'follower';
    this.#relay.reset();
    this.#mirror.clear();
    this.#mirror.session = undefined;
  }
}
