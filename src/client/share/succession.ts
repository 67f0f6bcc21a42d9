import { CloseCode } from '../../protocol';
import type { Carrier, CarrierParts } from '../carrier';
import type { Endpoint } from '../endpoint';
import type { LadderHost } from '../ladder';
import type { Restore } from '../persisted-queue';
import type { Mirror } from './channel';
import type { Following } from './link';
import type { TabLocks } from './locks';
import type { Relay } from './relay';
import type { HolderWatch } from './watch';

/** 'away': the page is frozen or in the back/forward cache; it holds nothing and asks for nothing. */
export type Role = 'follower' | 'leader' | 'away';

/** What the steps between roles work with: the parts of one SharedCarrier. */
export interface SuccessionParts {
  readonly locks: TabLocks;
  readonly watch: HolderWatch;
  /** The ladders: one follows the holder over a link, the other holds the connection. */
  readonly follower: Carrier;
  readonly leader: Carrier;
  /** The client's ladder host: its state says whether the client is open, or stopped. */
  readonly host: LadderHost;
  readonly relay: Relay;
  readonly mirror: Mirror;
  readonly following: Following;
  readonly endpoint: Endpoint;
  readonly ownQueue: CarrierParts['ownQueue'];
  readonly releaseQueue: CarrierParts['releaseQueue'];
  /** Settles once this tab has read what the last holder posted before it went. */
  drain(): Promise<void>;
  /** The channel the client joined the tabs with: another one, or none, once it stopped. */
  channel(): BroadcastChannel | undefined;
}

/**
 * The role a sharing tab plays and the steps between roles: it holds the connection when the
 * leader lock is granted, follows again when another tab takes the lock or its page is frozen,
 * and asks for the lock again once the page is back.
 */
export class Succession {
  #role: Role = 'follower';

  constructor(private readonly parts: SuccessionParts) {}

  get role(): Role {
    return this.#role;
  }

  /** The lock is granted: the last leader is gone (or there was none, or it was taken from it: `stole`). */
  lead(ballot: AbortController, stole: boolean): void {
    const { watch, follower, host } = this.parts;
    watch.stop();
    const open = host.state === 'open';
    // Stopped quietly while still connecting; an open link is left, as a connection lost is.
    if (open) follower.leave('the tab holding the connection went away');
    else follower.stop(CloseCode.GOING_AWAY, 'this tab holds the connection now');
    const channel = this.parts.channel();
    // Stopped, gone away or robbed of the lock meanwhile.
    const stopped = () => this.parts.channel() !== channel || host.state === 'closed' || ballot.signal.aborted;
    void this.parts.drain().then(async () => {
      if (stopped()) return;
      // The persisted queue comes with the connection: what the last holder saved, once it let go,
      // or taken from it with the connection when it stopped answering (it holds on to both).
      let saved: Parameters<Restore> | undefined;
      await this.parts.ownQueue((...taken) => (saved = taken), stole);
      if (stopped()) return;
      this.#role = 'leader';
      watch.lead();
      this.parts.relay.takeOver(this.parts.mirror, saved);
      this.parts.mirror.clear();
      this.parts.leader.start();
    });
  }

  /**
   * Another tab took the lock from this one: it owns the session now. This tab lets its
   * connection go without a word to the others (they follow the new holder) and follows too:
   * its own messages go to the new holder, which drops those it already has.
   */
  stolen(ballot: AbortController): void {
    const { locks, follower } = this.parts;
    if (ballot !== locks.ballot) return;
    locks.withdraw(); // a takeover still draining does not go on
    if (this.#role === 'leader') {
      // Before its connection goes, so that no 'down' goes to the tabs following the new holder.
      // No last save of the persisted queue: the new holder took it as it was (see lead()).
      this.#resign(false);
      this.parts.leader.stop(CloseCode.GOING_AWAY, 'another tab holds the connection now');
      this.#role = 'follower';
      follower.leave('another tab took the connection over');
    }
    // The follower's ladder was stopped or left when the lock came (lead()): it starts again.
    follower.start();
    locks.elect();
    this.parts.watch.start();
  }

  /**
   * The page is frozen or enters the back/forward cache: a holder hands the session over as
   * close() does, and lets go of the lock; a follower unlinks. Neither asks for the lock while
   * away, so no frozen tab is granted it. back() rejoins as a follower.
   */
  away(reason: string): void {
    if (this.#role === 'away') return;
    if (this.#role === 'leader') {
      this.parts.leader.stop(CloseCode.GOING_AWAY, 'handing over to another tab');
      this.#resign();
    }
    this.parts.locks.withdraw();
    this.parts.watch.stop();
    this.#role = 'away';
    this.parts.follower.leave(reason);
  }

  /** The page is back: it follows, and holds the connection again only if the lock is free. */
  back(): void {
    if (this.#role !== 'away') return;
    this.#role = 'follower';
    this.parts.locks.elect();
    this.parts.watch.start();
    this.parts.follower.retryNow();
  }

  /** The client stopped: it follows when it starts again. */
  end(): void {
    this.#role = 'follower';
  }

  /**
   * This tab no longer holds the connection: the persisted queue goes to the next holder (after a
   * last save, unless `save` is false), the outbox back to this tab's own numbering (see
   * SendGate.stepDown()), and its messages belong to the session it held.
   */
  #resign(save = true): void {
    this.parts.releaseQueue(save);
    this.parts.relay.stepDown();
    this.parts.following.followFrom(this.parts.endpoint.snapshot().sid ?? null);
  }
}
