import type { Outbox } from '../queue';
import type { ResumeState } from '../transports/types';
import type { TabMessage } from './channel';
import type { Followers, Standing } from './followers';

/**
 * The holder's news for the follower tabs: the server messages each frame read delivered
 * ('msg'), which tabs' messages the server acknowledged ('acks'), and how far this tab
 * acknowledged the server ('acked'), never past what every follower has.
 */
export class FanOut {
  /** The highest server seq acknowledged, and client seq acknowledged, that every tab was told. */
  #acked = 0;
  #out = 0;
  /** Server messages delivered during the frame being read, passed on when it is done. */
  #batch: unknown[] = [];
  #batchStart = 0;

  constructor(
    private readonly post: (m: TabMessage) => void,
    private readonly at: Standing,
    private readonly outbox: Outbox,
    private readonly followers: Followers,
  ) {}

  /** The connection delivered server message `seq`: passed on once the frame is read. */
  delivered(seq: number, data: unknown): void {
    if (!this.#batch.length) this.#batchStart = seq;
    this.#batch.push(data);
    this.at.received = seq;
  }

  /**
   * Passes on what the frame just read delivered and acknowledged; `position` is where an
   * endpoint that numbers nothing (plain) stands after it.
   */
  passOn(position: ResumeState | undefined): void {
    if (this.#batch.length) {
      const text = JSON.stringify({ t: 'msg', s: this.#batchStart, d: this.#batch });
      this.post({ t: 'msg', text, at: position && [this.at.received, { ...position }] });
      this.#batch = [];
    }
    const first = this.outbox.items[0];
    const out = (first ? first.seq : this.outbox.nextSeq) - 1;
    const acks = this.followers.acks(true);
    if (out > this.#out || Object.keys(acks).length) {
      this.#out = Math.max(out, this.#out);
      this.post({ t: 'acks', s: this.#out, tabs: acks });
    }
  }

  /** No ack to the server past what every follower has; every tab learns how far it went, before the server does. */
  ackable(a: number): number {
    a = this.followers.slowest(a);
    if (a > this.#acked) {
      this.#acked = a;
      this.post({ t: 'acked', a });
    }
    return a;
  }

  /** The highest server seq acknowledged, and client seq acknowledged, that every tab was told. */
  get acked(): number {
    return this.#acked;
  }

  get out(): number {
    return this.#out;
  }

  /** This tab takes over where the last holder's news stopped. */
  resume(acked: number, out: number): void {
    this.#acked = acked;
    this.#out = out;
  }

  /** This tab no longer holds the connection: what the frame being read delivered is not passed on. */
  drop(): void {
    this.#batch = [];
  }

  /** Another session: the tabs were told nothing of it yet. */
  restart(): void {
    this.#acked = this.#out = 0;
  }
}
