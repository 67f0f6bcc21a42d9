import { utf8Length } from '../protocol';
import { parsed, type Endpoint } from './endpoint';
import type { Env } from './env';
import { RealtimeError } from './errors';
import type { OwnedQueue, Saved } from './persist';
import type { Outbox, Pending } from './queue';

/** What the persisted queue needs from the client. */
export interface QueueHost {
  readonly url: string;
  readonly env: Env;
  readonly outbox: Outbox;
  readonly endpoint: Endpoint;
  error(e: RealtimeError): void;
  /** Arms a restored message's ttl. */
  expire(p: Pending): void;
}

/** What an earlier page left, as the client takes it back: its session, and its messages in order. */
export type Restore = (saved: Saved, items: Pending[]) => void;

/** The client's side of `queue.persist`, composed only when it is set. */
export interface PersistedQueue {
  /**
   * Takes the saved queue over, if no other page holds it. Runs before a run of attempts starts
   * (with tab sharing: when this tab comes to hold the connection). `restore` takes back what an
   * earlier page left; by default its session and messages resume ahead of anything sent since.
   */
  own(current: () => boolean, restore?: Restore, steal?: boolean): Promise<void>;
  /** The queue changed: save it at the end of the task. */
  changed(): void;
  /** The highest server seq that may be acknowledged: none past what a completed save records. */
  ackable(received: number): number;
  /**
   * The client closed (the record goes: the queue is empty by now), or with tab sharing, another
   * tab holds the connection now: the lock goes, after a last save unless `save` is false (a
   * holder that another tab robbed of the connection, which may have taken the queue too).
   */
  release(save?: boolean): void;
}

/**
 * Keeps the queue, with the session, where the next load of the page finds it. Saved after every
 * change (once per task), whenever an ack is due while messages wait, and on pagehide; no ack
 * leaves before the save recording it completed, so whichever copy the next page finds, the
 * server still has what that copy resumes from.
 */
export class Persisted implements PersistedQueue {
  /** False once the storage proved unusable here: the queue stays in memory. */
  #usable = true;
  /** The persisted queue, while this client owns it. */
  #owned: OwnedQueue | undefined;
  #saveQueued = false;
  /** Whether a record exists, so an empty queue deletes it once, not at every ack. */
  #stored = false;
  /** The `a` of each save still being written, oldest first, and of the last one written (Infinity: no record). */
  #writing: number[] = [];
  #written = Infinity;

  constructor(
    private readonly host: QueueHost,
    private readonly lock: (key: string, env: Env, steal?: boolean) => Promise<OwnedQueue | null | string>,
  ) {}

  /**
   * The lock stays held until close() or the page goes away, so two tabs never send one queue
   * twice. What an earlier page left goes ahead of anything sent meanwhile, with its session, so
   * the first attempt resumes it. `steal`: take it from the page holding it (see OwnedQueue.lost).
   */
  async own(current: () => boolean, restore?: Restore, steal = false): Promise<void> {
    if (!this.#usable || this.#owned) return;
    const { env, url } = this.host;
    const owned = await this.lock(`realtime-client queue ${url}`, env, steal).catch(String);
    if (typeof owned === 'string') {
      this.#usable = false;
      return this.host.error(
        new RealtimeError('unsupported', `queue.persist: ${owned}; the queue is kept in memory only`),
      );
    }
    // Another page owns it: this one keeps its queue in memory, as without persist.
    if (!owned) return;
    if (!current()) return owned.release();
    this.#owned = owned;
    this.#stored = !!owned.saved;
    // Taken by another page: saving on would overwrite what that page saves.
    void owned.lost.then(() => this.#owned === owned && this.#letGo(owned));
    // The last moment a leaving page surely runs: save what the next load needs, synchronously with localStorage.
    env.window?.addEventListener('pagehide', this.#save);
    if (owned.saved) this.#restore(owned.saved, restore);
  }

  #restore(s: Saved, restore: Restore = (saved, items) => this.#resume(saved, items)): void {
    const { host } = this;
    const items = s.items.map(([seq, json, key, exp, tab, local]): Pending => {
      // Its send() promise died with the earlier page: a failure now is reported as an 'error' event.
      return {
        seq,
        json,
        bytes: utf8Length(json),
        data: parsed(json),
        key: key ?? undefined,
        exp: exp ?? undefined,
        origin: typeof tab === 'string' && typeof local === 'number' ? [tab, local] : undefined,
        resolve() {},
        reject: (e) => host.error(e),
      };
    });
    restore(s, items);
    for (const p of items) host.expire(p);
  }

  /** The earlier page's session goes on, its messages first. */
  #resume(s: Saved, items: Pending[]): void {
    this.host.endpoint.restore(s);
    this.host.outbox.adopt(items, s.sent);
  }

  changed(): void {
    if (!this.#owned || this.#saveQueued) return;
    this.#saveQueued = true;
    queueMicrotask(this.#save);
  }

  /**
   * The server may drop what this client acknowledges, so a saved session must not resume from
   * before it: an ack waits for a save recording it. Only a queue with messages is saved; with
   * none, the next page needs no resume.
   */
  ackable(received: number): number {
    if (this.host.outbox.items.length && !this.#writing.length && this.#written < received) this.changed();
    return Math.min(received, this.#written, ...this.#writing);
  }

  release(save = true): void {
    if (save) this.#save();
    if (this.#owned) this.#letGo(this.#owned);
  }

  #letGo(owned: OwnedQueue): void {
    this.host.env.window?.removeEventListener('pagehide', this.#save);
    owned.release();
    this.#owned = undefined;
  }

  readonly #save = (): void => {
    this.#saveQueued = false;
    const { host } = this;
    const o = host.outbox;
    const owned = this.#owned;
    if (!owned || !(o.items.length || this.#stored)) return;
    this.#stored = !!o.items.length;
    const s: Saved | undefined = this.#stored
      ? {
          ...host.endpoint.snapshot(),
          sent: o.sent,
          items: o.items.map((p) => [p.seq, p.json, p.key ?? null, p.exp ?? null, ...(p.origin ?? [])]),
        }
      : undefined;
    this.#writing.push(s ? s.a : Infinity);
    // Not awaited: a failed save is reported through host.error, and the queue goes on.
    void owned
      .save(s)
      .catch((cause: unknown) =>
        host.error(
          new RealtimeError(
            'queue-full',
            `queue.persist: save failed (${String(cause)}): a reload now may lose the queue`,
            { cause },
          ),
        ),
      )
      .then(() => {
        this.#written = this.#writing.shift()!;
        host.endpoint.ackReleased();
      });
  };
}
