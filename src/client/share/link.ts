import { CloseCode } from '../../protocol';
import type { Endpoint } from '../endpoint';
import { RealtimeError } from '../errors';
import type { Emit } from '../events';
import type { Connection, Transport, TransportHandlers } from '../transports/types';
import type { TabMessage } from './channel';

/** What a follower's link needs from its tab. */
export interface LinkHost {
  readonly tab: string;
  post(m: TabMessage): void;
  /** Settles once this tab holds its tab lock, so a leader watching it never finds it free too early. */
  readonly held: Promise<void>;
  /** The highest server seq this tab received, or null before it had a session. */
  position(): number | null;
  /**
   * The leader says where this tab starts: its session begins there unless it has one, or
   * (`lost`) the tab fell further behind than the leader keeps.
   */
  begin(a: number, lost: boolean): void;
  /** The link open now, which the tab hands what the leader says. */
  link: TabLink | undefined;
  /** The transport the leader's connection uses, for `client.transport`. */
  leaderTransport: string | null;
  /** The server session this tab's messages belong to, from its last welcome. */
  session: string | null;
}

/** A tab's side of its links: what a link needs from its tab, and what it learns. */
export class Following implements LinkHost {
  link: TabLink | undefined;
  leaderTransport: string | null = null;
  session: string | null = null;

  constructor(
    readonly tab: string,
    private readonly endpoint: Endpoint,
    private readonly emit: Emit,
    readonly post: (m: TabMessage) => void,
    private readonly locks: { readonly held: Promise<void> },
  ) {}

  get held(): Promise<void> {
    return this.locks.held;
  }

  position(): number | null {
    const s = this.endpoint.snapshot();
    return s.sid ? s.a : null;
  }

  begin(a: number, lost: boolean): void {
    if (lost)
      this.emit(
        'error',
        new RealtimeError(
          'session-lost',
          'share: this tab was cut off from the tab holding the connection for too long: messages from the server were missed; reload state',
        ),
      );
    if (lost || !this.endpoint.snapshot().sid) this.endpoint.restore({ sid: this.tab, key: this.tab, a });
  }

  /** This tab's messages belong to the server session it holds now, and it follows from here. */
  followFrom(session: string | null): void {
    this.session = session;
  }

  /** The client stopped. */
  reset(): void {
    this.link = undefined;
    this.session = null;
  }
}

/**
 * A follower's connection: to the leader over the channel, as a transport, so the client drives
 * it with its ladder and speaks v1 over it as to a server (acks, resume, dedupe by seq).
 */
export const tabLink = (host: LinkHost): Transport => ({
  get name() {
    return host.leaderTransport ?? 'shared';
  },
  isSupported: () => true,
  open: (_url, handlers) => new TabLink(host, handlers),
});

export class TabLink implements Connection {
  readonly buffered = 0;
  #state: 'joining' | 'open' | 'closed' = 'joining';
  /** The leader that welcomed this link: another one announcing itself means this one is gone. */
  #leader: string | undefined;

  constructor(
    private readonly host: LinkHost,
    private readonly handlers: TransportHandlers,
  ) {
    host.link = this;
    void host.held.then(() => this.#join());
  }

  #join(): void {
    const { host } = this;
    if (this.#state === 'joining') host.post({ t: 'join', tab: host.tab, a: host.position(), session: host.session });
  }

  take(m: TabMessage): void {
    const { host, handlers } = this;
    switch (m.t) {
      case 'welcome':
        if (m.to !== host.tab || this.#state !== 'joining') return;
        this.#state = 'open';
        this.#leader = m.from;
        host.leaderTransport = m.transport;
        host.session = m.session;
        host.begin(m.a, m.lost);
        handlers.onOpen();
        handlers.onFrame(m.text);
        if (m.replay) handlers.onFrame(m.replay);
        return;
      case 'msg':
        if (this.#state === 'open') handlers.onFrame(m.text);
        return;
      case 'acks': {
        const local = m.tabs[host.tab];
        if (this.#state === 'open' && local !== undefined) handlers.onFrame(`{"t":"ack","a":${local}}`);
        return;
      }
      case 'ready':
        // A leader is ready: ask it, if no answer came yet; the link of a leader gone ends.
        if (this.#state === 'joining') return this.#join();
        if (m.tab !== this.#leader) this.#end('another tab holds the connection now');
        return;
      case 'down':
        // Only its own leader's: a tab whose lock was stolen may still report its old connection going.
        if (m.tab === this.#leader) this.#end('the tab holding the connection lost it');
        return;
    }
  }

  #end(reason: string): void {
    if (this.#state === 'closed') return;
    this.#stop();
    this.handlers.onClose(CloseCode.GOING_AWAY, reason);
  }

  #stop(): void {
    this.#state = 'closed';
    if (this.host.link === this) this.host.link = undefined;
  }

  send(text: string): void {
    if (this.#state === 'open') this.host.post({ t: 'send', tab: this.host.tab, text });
  }

  close(): void {
    if (this.#state === 'closed') return;
    this.#stop();
    this.host.post({ t: 'bye', tab: this.host.tab });
  }
}
