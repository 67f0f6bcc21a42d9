import type { SessionStore, StoredSession } from './store';

/** Acks are saved lazily, at most this often: a stale buffer only causes replays the client drops. */
const ACK_SAVE_DELAY_MS = 100;

/**
 * When a session is written to the `sessionStore` (docs/protocol.md §17): at once where a crash
 * must not lose what was promised, at the end of the tick for messages queued while
 * disconnected, lazily for acks. Without a store every save trivially succeeds.
 */
export class Persistence {
  /** Highest server seq known to be in the store. */
  #savedOut: number;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #soon = false;
  #stopped = false;

  constructor(
    private readonly store: SessionStore | undefined,
    private readonly snapshot: () => StoredSession,
    private readonly report: (error: unknown, context: string) => void,
    savedOut = 0,
  ) {
    this.#savedOut = savedOut;
  }

  /** Saves now. False if the save failed (reported); the caller must not promise what it holds. */
  save(): boolean {
    if (!this.store || this.#stopped) return true;
    this.#cancelLater();
    const s = this.snapshot();
    try {
      this.store.save(s);
    } catch (err) {
      this.report(err, 'sessionStore.save');
      return false;
    }
    this.#savedOut = s.nextSeq - 1;
    return true;
  }

  /** Saves unless every message up to `seq` is in the store already: before any of them reaches the wire. */
  saveUpTo(seq: number): boolean {
    return !this.store || this.#savedOut >= seq || this.save();
  }

  /** Saves at the end of this tick, once for all the messages of the tick (queued while disconnected). */
  saveSoon(seq: number): void {
    if (!this.store || this.#soon || this.#stopped) return;
    this.#soon = true;
    queueMicrotask(() => {
      this.#soon = false;
      this.saveUpTo(seq);
    });
  }

  /** Saves soon (acks: pruning the stored buffer is not urgent). */
  saveLater(): void {
    if (!this.store || this.#timer || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.save();
    }, ACK_SAVE_DELAY_MS);
    this.#timer.unref?.();
  }

  /** The session ended (its record is removed): no more saves. */
  stop(): void {
    this.#stopped = true;
    this.#cancelLater();
  }

  #cancelLater(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
