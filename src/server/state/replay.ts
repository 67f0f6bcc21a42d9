/**
 * A session's replay buffer: every message sent to the client and not yet acknowledged, in
 * sequence order, so a resume can send again what the client missed (docs/protocol.md §8).
 * Every byte it holds is also counted in the server-wide {@link ReplayBudget}.
 */

/** One buffered message: its sequence number and its JSON, serialised once. */
export interface ReplayEntry {
  seq: number;
  json: string;
  /** UTF-8 bytes of `json`. */
  bytes: number;
}

/**
 * What an entry costs besides its JSON: the entry object and its slot in the buffer (about 56
 * bytes on 64-bit V8, rounded up). Counting it keeps the server-wide bound honest for many tiny
 * messages, where the bookkeeping outweighs the payload.
 */
export const ENTRY_COST = 64;

/** What one message counts against the server-wide bound. */
export const replayCost = (bytes: number): number => bytes + ENTRY_COST;

/**
 * The server-wide count of replay memory, shared by every session's buffer. The server decides
 * what happens when it is full (see `maxTotalReplayBytes`); the buffers only keep it exact.
 */
export class ReplayBudget {
  /** Bytes held by every buffer together, entries' bookkeeping included. */
  used = 0;

  constructor(readonly limit: number) {}

  /** Whether `cost` more bytes would take the total past the limit. */
  wouldExceed(cost: number): boolean {
    return this.used + cost > this.limit;
  }
}

export class ReplayBuffer {
  #entries: ReplayEntry[] = [];
  /** Index of the oldest entry still held: dropping from the front moves it instead of shifting the array. */
  #head = 0;
  #bytes = 0;

  constructor(private readonly budget: ReplayBudget) {}

  /** Messages held. */
  get size(): number {
    return this.#entries.length - this.#head;
  }

  /** JSON bytes held (what `replay.maxBytes` bounds). */
  get bytes(): number {
    return this.#bytes;
  }

  /** What this buffer counts against the server-wide budget. */
  get cost(): number {
    return this.#bytes + ENTRY_COST * this.size;
  }

  /** Sequence number of the oldest message held; undefined when empty. */
  get firstSeq(): number | undefined {
    return this.size > 0 ? this.#entries[this.#head]!.seq : undefined;
  }

  /** The message numbered `seq`, if held. Entries are contiguous, so this is a lookup, not a search. */
  get(seq: number): ReplayEntry | undefined {
    const first = this.firstSeq;
    return first === undefined || seq < first ? undefined : this.#entries[this.#head + seq - first];
  }

  /** Appends the next message; `seq` must follow the last one held. */
  push(entry: ReplayEntry): void {
    this.#entries.push(entry);
    this.#add(entry.bytes, 1);
  }

  /** Drops every message numbered `a` or lower (the client acknowledged them). */
  acknowledge(a: number): void {
    const entries = this.#entries;
    while (this.#head < entries.length && entries[this.#head]!.seq <= a) this.#dropHead();
    this.#compact();
  }

  /** Drops and returns the oldest message, to keep within bounds. */
  dropOldest(): ReplayEntry {
    const e = this.#dropHead();
    this.#compact();
    return e;
  }

  /** Drops everything (the session ended). */
  clear(): void {
    this.#add(-this.#bytes, -this.size);
    this.#entries = [];
    this.#head = 0;
  }

  /** The messages held, as [seq, json] pairs, for the session store. */
  pairs(): Array<[number, string]> {
    const out: Array<[number, string]> = [];
    for (let i = this.#head; i < this.#entries.length; i++) out.push([this.#entries[i]!.seq, this.#entries[i]!.json]);
    return out;
  }

  #dropHead(): ReplayEntry {
    const e = this.#entries[this.#head++]!;
    this.#add(-e.bytes, -1);
    return e;
  }

  #add(bytes: number, entries: number): void {
    this.#bytes += bytes;
    this.budget.used += bytes + ENTRY_COST * entries;
  }

  /** Frees the dropped front of the array once it is most of it. */
  #compact(): void {
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
