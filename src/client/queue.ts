import { RealtimeError } from './errors';
import type { PersistKind, QueueStorage } from './persist';

export interface QueueOptions {
  /** Most messages held while offline or awaiting acknowledgement; more are refused with 'queue-full'. @default 1000 */
  maxMessages: number;
  /** Most bytes (UTF-8 JSON) held; more are refused with 'queue-full'. @default 1048576 */
  maxBytes: number;
  /**
   * Keeps messages not yet acknowledged across page reloads, so that what was sent offline is
   * delivered, once, by the next load of the page: 'indexeddb' or 'localStorage' (with
   * 'realtime-client/core', pass `indexedDBQueue()` or `localStorageQueue()`). Needs Web Locks:
   * one page per URL owns the queue (with `share`, the tab holding the connection); another page
   * on the same URL keeps its own in memory.
   * @default undefined (memory only)
   */
  persist?: PersistKind | QueueStorage | undefined;
}

export const defaultQueue: QueueOptions = { maxMessages: 1000, maxBytes: 1 << 20 };

export interface Pending {
  seq: number;
  json: string;
  bytes: number;
  data: unknown;
  /** 'Latest value wins': an unsent message with the same key is replaced by a newer one. */
  key?: string | undefined;
  /** When the message's ttl runs out (epoch ms). */
  exp?: number | undefined;
  /** Tab sharing: the tab it came from and its number there, kept with it in a persisted queue. */
  origin?: [tab: string, local: number] | undefined;
  resolve(): void;
  reject(e: RealtimeError): void;
}

/**
 * Messages from send() until the server acknowledges them. Items with seq <= `sent` have been
 * handed to a transport at least once; the rest are still waiting for a connection.
 */
export class Outbox {
  items: Pending[] = [];
  bytes = 0;
  nextSeq = 1;
  #sent = 0;
  /** The last seq an earlier page numbered, between adopt() and the next resume. */
  #earlier: number | undefined;

  /** `changed` runs after every change, so a persisted copy can follow. */
  readonly #limits: QueueOptions;
  readonly #changed: () => void;

  constructor(limits: QueueOptions, changed: () => void = () => {}) {
    this.#limits = limits;
    this.#changed = changed;
  }

  get sent(): number {
    return this.#sent;
  }

  set sent(seq: number) {
    this.#sent = seq;
    this.#changed();
  }

  /** Returns the limit a message of `bytes` would break, or undefined when it fits. */
  refuse(bytes: number): string | undefined {
    if (this.items.length >= this.#limits.maxMessages) return 'queue.maxMessages';
    if (this.bytes + bytes > this.#limits.maxBytes) return 'queue.maxBytes';
  }

  push(p: Omit<Pending, 'seq'>): Pending {
    const old = p.key === undefined ? undefined : this.unsent().find((q) => q.key === p.key);
    if (old) {
      // The replaced message's promise settles with its replacement: its value was superseded, not lost.
      this.remove(old);
      const { resolve, reject } = p;
      p = {
        ...p,
        resolve: () => {
          old.resolve();
          resolve();
        },
        reject: (e) => {
          old.reject(e);
          reject(e);
        },
      };
    }
    const item = { ...p, seq: this.nextSeq++ };
    this.items.push(item);
    this.bytes += p.bytes;
    this.#changed();
    return item;
  }

  /**
   * Takes an unsent message out (expired, or replaced by a newer one with its key). Later unsent
   * messages move up a number, since the receiver accepts no gap.
   */
  remove(p: Pending): boolean {
    const i = this.items.indexOf(p);
    if (i < 0 || p.seq <= this.sent) return false;
    this.items.splice(i, 1);
    this.bytes -= p.bytes;
    for (let j = i; j < this.items.length; j++) this.items[j]!.seq--;
    this.nextSeq--;
    this.#changed();
    return true;
  }

  /** Resolves every message up to and including seq `a` (a cumulative ack). */
  ack(a: number): void {
    let n = 0;
    while (n < this.items.length && this.items[n]!.seq <= a) n++;
    if (n) this.take(n).forEach((p) => p.resolve());
    if (a > this.sent) this.sent = a;
  }

  /** Messages not handed to a transport since the last rewind. */
  unsent(): Pending[] {
    return this.items.slice(this.#firstUnsent());
  }

  #firstUnsent(): number {
    const i = this.items.findIndex((p) => p.seq > this.sent);
    return i < 0 ? this.items.length : i;
  }

  /**
   * After a resume the server says what it has; everything later goes out again. A server ahead
   * of an adopted queue means the earlier page sent more after its last save (an IndexedDB write
   * lost at unload, a crash): those seqs are taken, so what this page queued itself moves past them.
   */
  rewind(a: number): void {
    const behind = a - (this.#earlier ?? a);
    if (behind > 0) {
      for (const p of this.items) if (p.seq > this.#earlier!) p.seq += behind;
      this.nextSeq += behind;
    }
    this.#earlier = undefined;
    this.ack(a);
    this.sent = a;
  }

  /**
   * A fresh session numbers from 1 again. Messages that went out but were never acknowledged
   * may or may not have reached the application, so they are returned to be rejected rather
   * than sent twice; messages that never went out are kept and renumbered.
   */
  restart(): Pending[] {
    const lost = this.take(this.#firstUnsent());
    this.#earlier = undefined;
    this.items.forEach((p, i) => (p.seq = i + 1));
    this.nextSeq = this.items.length + 1;
    this.sent = 0;
    return lost;
  }

  /**
   * Takes back what an earlier page left (consecutive seqs, the first `sent` of them already
   * handed to a transport) ahead of what this page queued meanwhile, which is renumbered after.
   */
  adopt(earlier: Pending[], sent: number): void {
    const next = (this.#earlier = earlier.at(-1)?.seq ?? sent) + 1;
    this.items.forEach((p, i) => (p.seq = next + i));
    this.items.unshift(...earlier);
    for (const p of earlier) this.bytes += p.bytes;
    this.nextSeq = next + this.items.length - earlier.length;
    this.sent = sent;
  }

  /** Removes and returns the first n items. */
  take(n: number = this.items.length): Pending[] {
    const out = this.items.splice(0, n);
    for (const p of out) this.bytes -= p.bytes;
    if (n) this.#changed();
    return out;
  }
}
