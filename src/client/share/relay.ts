import { parsed, type Endpoint, type EndpointHost } from '../endpoint';
import type { Env } from '../env';
import type { Outbox } from '../queue';
import type { Restore } from '../persisted-queue';
import type { Connection } from '../transports/types';
import type { Mirror, TabMessage } from './channel';
import { FanOut } from './fanout';
import { Followers, type Standing } from './followers';
import { SendGate } from './gate';
import { Kept } from './kept';
import { takeOver } from './takeover';

/** What the relay needs from the tab it runs in. */
export interface RelayHost {
  readonly tab: string;
  readonly url: string;
  readonly env: Env;
  /** Whether this tab holds the connection now. */
  readonly leading: boolean;
  readonly transport: string | null;
  /** The server session this tab's messages belonged to while it followed. */
  readonly session: string | null;
  post(m: TabMessage): void;
}

/**
 * The leader's side of sharing, composed around the client's own endpoint: while this tab leads,
 * every server message is passed on and nothing is acknowledged to the server before every tab
 * has it (see FanOut), every follower message joins the one outbox (see Followers), and nothing
 * goes to the server before every tab recorded it (see SendGate); while it follows, all of this
 * stands still. It keeps what a successor needs, and the last server messages for tabs behind
 * (see Kept); taking over rebuilds the outbox from them (see takeOver()).
 */
export class Relay {
  readonly #gate: SendGate;
  readonly #followers: Followers;
  /** The server session held, the highest server seq received here, the server's frame limit, the last messages. */
  readonly #at: Standing = { sid: undefined, received: 0, serverMax: 1 << 20, kept: new Kept() };
  readonly #news: FanOut;
  /**
   * The client's endpoint (the server's protocol) and the one this tab speaks v1 to the leader
   * with while it follows: the same one, unless the server's protocol numbers no messages (plain
   * mode), which this relay then numbers itself. And the client's endpoint host.
   */
  #inner: Endpoint | undefined;
  #link: Endpoint | undefined;
  #client: EndpointHost | undefined;

  constructor(
    private readonly host: RelayHost,
    private readonly outbox: Outbox,
  ) {
    const flushSoon = () => this.#client?.flushSoon();
    this.#gate = new SendGate({ tab: host.tab, env: host.env, post: (m) => host.post(m), flushSoon }, outbox);
    this.#followers = new Followers(host, this.#at, outbox, this.#gate, {
      postState: () => this.#state(),
      serialize: (data) => this.#inner!.serialize(data)!,
      ackReleased: () => this.#inner?.ackReleased(),
      flushSoon,
    });
    this.#news = new FanOut((m) => host.post(m), this.#at, outbox, this.#followers);
  }

  /** The client's endpoint host, seen through the relay. */
  endpointHost(h: EndpointHost): EndpointHost {
    this.#client = h;
    const leading = () => this.host.leading;
    return {
      env: h.env,
      outbox: h.outbox,
      get state() {
        return h.state;
      },
      opened: (deadline, resumed) => {
        if (leading()) this.#opened();
        h.opened(deadline, resumed);
      },
      deliver: (data, seq) => {
        // An endpoint that numbers nothing: numbered here, in the order the connection gave them.
        if (seq === undefined && leading() && this.#inner?.position) seq = this.#at.received + 1;
        if (seq !== undefined) {
          if (leading()) this.#news.delivered(seq, data);
          // Kept by followers too: a tab that takes over resumes from its own position, and
          // gives a tab behind it what the server no longer has.
          this.#at.kept.add(seq, data);
        }
        h.deliver(data, seq);
      },
      error: (e) => h.error(e),
      refuse: (code, message, closeCode) => h.refuse(code, message, closeCode),
      closed: (code, reason) => h.closed(code, reason),
      flushSoon: () => h.flushSoon(),
      ackable: (received) => {
        const a = h.ackable(received);
        return leading() ? this.#news.ackable(a) : a;
      },
    };
  }

  /** The client's endpoint, seen through the relay: `inner` while this tab leads, `link` while it follows. */
  endpoint(inner: Endpoint, link: Endpoint): Endpoint {
    this.#inner = inner;
    this.#link = link;
    const leading = () => this.host.leading;
    const active = () => (leading() ? inner : link);
    return {
      resumable: inner.resumable,
      context: inner.context,
      // Each tab's queue holds the text for whom it talks to: the leader (v1), or the server.
      serialize: (data) => active().serialize(data),
      tooLarge: (bytes) => active().tooLarge(bytes),
      credentials: () => inner.credentials(),
      connected: (conn, token) => active().connected(conn, token),
      frame: (text) => {
        if (!leading()) return link.frame(text);
        // The server's limit, for the followers' welcome (sent as the server wrote it: t first).
        if (text.startsWith('{"t":"welcome"')) {
          const max = (parsed(text) as { max?: unknown }).max;
          if (typeof max === 'number') this.#at.serverMax = max;
        }
        inner.frame(text);
        this.#news.passOn(inner.position);
      },
      protocolError: (what) => active().protocolError(what),
      flush: (conn: Connection) => {
        if (!leading()) return link.flush(conn);
        try {
          return this.#gate.flush(inner, conn, this.#followers.tabs());
        } finally {
          // An endpoint without acks (plain) resolved what it handed over: the tabs hear it now.
          this.#news.passOn(inner.position);
        }
      },
      disconnected: () => {
        active().disconnected();
        if (this.#followers.closed()) this.host.post({ t: 'down', tab: this.host.tab });
      },
      reset: () => {
        inner.reset();
        if (link !== inner) link.reset();
      },
      snapshot: () => active().snapshot(),
      restore: (s) => active().restore(s),
      ackReleased: () => active().ackReleased(),
    };
  }

  /** While this tab follows: see Kept.note(). */
  note(m: TabMessage): void {
    this.#at.kept.note(m);
  }

  /** What followers say to the leader. */
  take(m: TabMessage): void {
    this.#followers.take(m);
  }

  /** This tab takes the connection over: see takeOver(). */
  takeOver(mirror: Mirror, saved?: Parameters<Restore>): void {
    const own = this.#link!.snapshot();
    const { tab, session } = this.host;
    const parts = { gate: this.#gate, followers: this.#followers, at: this.#at, news: this.#news };
    takeOver({ tab, session, own, inner: this.#inner!, outbox: this.outbox, ...parts }, mirror, saved);
  }

  /**
   * This tab lets another one hold the connection (its page is frozen, or its lock was taken)
   * and follows: what it knew as the leader goes, and its outbox goes back to its own numbering
   * (see SendGate.stepDown()).
   */
  stepDown(): void {
    this.#gate.stepDown();
    this.#followers.follow();
    this.#news.drop();
  }

  /** The client stopped: nothing of this run is kept. */
  reset(): void {
    this.#gate.reset();
    this.#followers.follow();
    this.#news.drop();
    this.#news.restart();
    this.#at.kept.clear();
    this.#at.received = 0;
    this.#at.sid = undefined;
  }

  /** Whether any follower is linked: then closing this tab hands the session over instead of ending it. */
  get followed(): boolean {
    return this.#followers.followed;
  }

  /**
   * The server's session; with an endpoint that numbers nothing, the numbering the tabs share,
   * named by the tab that began it, which later holders go on with.
   */
  #session(): { sid?: string | undefined; key?: string | undefined } {
    if (!this.#inner!.position) return this.#inner!.snapshot();
    const sid = this.#at.sid ?? this.host.tab;
    return { sid, key: sid };
  }

  #opened(): void {
    const { sid, key } = this.#session();
    const at = this.#at;
    if (at.sid !== sid) {
      // Another session (the last one could not be resumed): what the tabs had of the last one
      // means nothing in it. Each tab relinks, and hears that its messages may be lost.
      at.kept.restart();
      this.#followers.newSession();
      at.received = 0;
      this.#news.restart();
      at.sid = sid;
    }
    if (sid && key) this.host.post({ t: 'session', sid, key });
    this.host.post({ t: 'ready', tab: this.host.tab });
    this.#followers.opened();
  }

  /** Everything a successor needs so far, for a tab joining now (the others take it again, harmlessly). */
  #state(): void {
    const { sid, key } = this.#session();
    if (!sid || !key) return;
    const outbox = this.outbox;
    const sent = outbox.items.filter((p) => p.seq <= outbox.sent);
    this.host.post({
      t: 'state',
      sid,
      key,
      acked: this.#news.acked,
      out: this.#news.out,
      items: this.#gate.items(sent),
      tabs: this.#followers.acks(false),
    });
  }
}
