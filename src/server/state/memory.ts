import { randomBytes, timingSafeEqual } from 'node:crypto';
import { CloseCode, tooLargeFor, utf8Length } from '../../protocol';
import { duplicatesIn } from '../../protocol';
import { faults } from '../faults';
import { Persistence } from '../persistence';
import { isStoredSession, type SessionStore, type StoredSession } from '../store';
import { replayCost, ReplayBudget, ReplayBuffer } from './replay';
import type {
  Appended,
  Attached,
  EngineHost,
  Fenced,
  ReplayEntry,
  ResumeRefusal,
  SessionEngine,
  SessionState,
} from './types';

/** Thrown (as a rejection) when the session store could not save: the caller must promise nothing. */
export class StoreUnavailable extends Error {
  constructor() {
    super('session store unavailable');
  }
}

const newSecret = (): string => randomBytes(18).toString('base64url'); // 144 bits, 24 chars

/**
 * Sessions in this process's memory, the default: one server process, optionally kept across
 * restarts by a `sessionStore` (snapshots). The server-wide replay budget lives here.
 */
export class MemoryEngine implements SessionEngine {
  readonly available = true;
  readonly budget: ReplayBudget;
  readonly #states = new Set<MemoryState>();
  #host: EngineHost | undefined;

  constructor(
    /** Where sessions are kept across restarts, if anywhere. */
    readonly sessionStore: SessionStore | undefined,
    maxTotalReplayBytes: number,
  ) {
    this.budget = new ReplayBudget(maxTotalReplayBytes);
  }

  get host(): EngineHost {
    if (!this.#host) throw new Error('MemoryEngine: bind() first');
    return this.#host;
  }

  bind(host: EngineHost): void {
    this.#host = host;
  }

  async create(remoteAddress: string): Promise<MemoryState> {
    return this.#track(
      new MemoryState(this, { sid: newSecret(), key: newSecret(), remoteAddress, received: 0, nextSeq: 1, replay: [] }),
    );
  }

  /** Sessions live in this process only: one it does not hold does not exist. */
  async find(): Promise<undefined> {
    return undefined;
  }

  /** The sessions the `sessionStore` kept, disconnected and resumable (those that expired meanwhile are removed). */
  restored(): MemoryState[] {
    const store = this.sessionStore;
    if (!store) return [];
    let stored: unknown[];
    try {
      stored = store.load();
    } catch (err) {
      this.host.reportError(err, 'sessionStore.load');
      return [];
    }
    const now = Date.now();
    const seen = new Set<string>();
    const states: MemoryState[] = [];
    for (const s of Array.isArray(stored) ? stored : []) {
      if (!isStoredSession(s)) {
        this.host.reportError(new Error('sessionStore.load returned an invalid session: ignored'), 'sessionStore.load');
        continue;
      }
      if (seen.has(s.sid)) continue;
      seen.add(s.sid);
      if (s.expiresAt !== undefined && s.expiresAt <= now) {
        // It expired while no server was running.
        try {
          store.remove(s.sid);
        } catch (err) {
          this.host.reportError(err, 'sessionStore.remove');
        }
        continue;
      }
      states.push(this.#track(new MemoryState(this, s)));
    }
    return states;
  }

  async close(): Promise<void> {}

  /**
   * The server-wide replay bound: while a message of `cost` would not fit, end the session
   * holding the most (the slowest or most hostile reader), then the next. Only under memory
   * pressure does this scan the sessions; each one ended frees at least the average.
   */
  makeRoom(cost: number): void {
    while (this.budget.wouldExceed(cost)) {
      let largest: MemoryState | undefined;
      for (const s of this.#states) if (s.cost > (largest?.cost ?? 0)) largest = s;
      if (!largest) return;
      this.host.ended(largest.id, CloseCode.SERVER_ERROR, 'server replay memory full');
      largest.release(); // in case the server no longer knew it
    }
  }

  /** @internal A state that ended. */
  forget(state: MemoryState): void {
    this.#states.delete(state);
  }

  #track(state: MemoryState): MemoryState {
    this.#states.add(state);
    return state;
  }
}

export class MemoryState implements SessionState {
  readonly id: string;
  readonly remoteAddress: string;
  /** The secret resume key: an ES private field, so logging or serialising never shows it. */
  readonly #key: string;
  readonly #keyBytes: Buffer;
  #ended = false;
  #overrun = false;
  /** The current link's epoch; 0 before the first. */
  #epoch = 0;
  #attached = false;
  /** Highest seq assigned. */
  #outSeq: number;
  /** Highest seq ever written, to any link (restored sessions: every saved one may have been). */
  #maxWritten: number;
  /** Highest seq the client acknowledged. */
  #peerAcked: number;
  /** Highest client seq delivered to the application and recorded. */
  #inSeq: number;
  /** Highest client seq claimed for delivery (>= inSeq): a resend of what is being delivered is not delivered again. */
  #claimed: number;
  #expiresAt: number | undefined;
  readonly #replay: ReplayBuffer;
  readonly #persistence: Persistence;

  constructor(
    private readonly engine: MemoryEngine,
    stored: StoredSession,
  ) {
    this.id = stored.sid;
    this.remoteAddress = stored.remoteAddress ?? 'unknown';
    this.#key = stored.key;
    this.#keyBytes = Buffer.from(stored.key);
    this.#inSeq = this.#claimed = stored.received;
    this.#outSeq = this.#maxWritten = stored.nextSeq - 1;
    this.#expiresAt = stored.expiresAt;
    this.#replay = new ReplayBuffer(engine.budget);
    // Counted in the budget but not evicted for: the previous process held them within its bounds.
    for (const [seq, json] of stored.replay) this.#replay.push({ seq, json, bytes: utf8Length(json) });
    this.#peerAcked = (this.#replay.firstSeq ?? this.#outSeq + 1) - 1;
    this.#persistence = new Persistence(
      engine.sessionStore,
      () => this.snapshot(),
      (err, context) => engine.host.reportError(err, context),
      this.#outSeq,
    );
  }

  get key(): string {
    return this.#key;
  }

  get unacknowledged(): number {
    return this.#replay.size;
  }

  get resumable(): boolean {
    return !this.#overrun;
  }

  /** What this session counts against `maxTotalReplayBytes`. */
  get cost(): number {
    return this.#replay.cost;
  }

  matchesKey(key: string): boolean {
    const given = Buffer.from(key);
    return given.length === this.#keyBytes.length && timingSafeEqual(given, this.#keyBytes);
  }

  async attach(clientAck: number | undefined, clientMax: number): Promise<Attached | ResumeRefusal> {
    if (clientAck !== undefined) {
      if (this.#ended || this.#overrun) return { why: 'gone' };
      if (clientAck < this.#peerAcked || clientAck > this.#maxWritten) return { why: 'bad-ack' };
      const reason = this.#cannotTake(clientAck, clientMax);
      if (reason) return { why: 'too-large', reason };
    }
    // Saved first (connected again: no expiry). welcome.a acknowledges every message delivered
    // so far, which only a successful save may do: a failed save after a delivery left inSeq
    // ahead of the store.
    const expiresAt = this.#expiresAt;
    this.#expiresAt = undefined;
    if (!this.#persistence.save()) {
      this.#expiresAt = expiresAt;
      throw new StoreUnavailable();
    }
    this.#epoch++;
    this.#attached = true;
    this.#claimed = this.#inSeq; // claims of an earlier link that were never recorded are void: the client sends those again
    if (clientAck !== undefined) this.#acknowledged(clientAck);
    return { epoch: this.#epoch, inSeq: this.#inSeq, lastSeq: this.#outSeq };
  }

  async detach(epoch: number, expiresAt: number): Promise<void> {
    if (epoch !== this.#epoch || this.#ended) return;
    this.#attached = false;
    this.#expiresAt = expiresAt;
    this.#persistence.save(); // records expiresAt; a failure is reported, and changes nothing we promised
  }

  async end(): Promise<void> {
    this.release();
  }

  async expire(epoch: number): Promise<boolean> {
    if (epoch !== this.#epoch) return false;
    this.release();
    return true;
  }

  /** Ends the state at once (also when evicted): its memory and its stored record go. */
  release(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#persistence.stop();
    this.#replay.clear();
    this.engine.forget(this);
    try {
      this.engine.sessionStore?.remove(this.id);
    } catch (err) {
      this.engine.host.reportError(err, 'sessionStore.remove');
    }
  }

  async append(messages: ReadonlyArray<{ json: string; bytes: number }>, written: number): Promise<Appended> {
    for (const { json, bytes } of messages) {
      if (this.#ended) return { ended: true };
      this.engine.makeRoom(replayCost(bytes));
      if (this.#ended) return { ended: true }; // this session held the most, and made room
      this.#replay.push({ seq: ++this.#outSeq, json, bytes });
    }
    const unwritten = this.#enforceBounds(written);
    // No link writes (and so saves) while disconnected: save this tick's messages together.
    if (!this.#attached) this.#persistence.saveSoon(this.#outSeq);
    return unwritten === undefined
      ? { last: this.#outSeq }
      : { overrun: true, unwritten, attached: this.#attached, last: this.#outSeq };
  }

  async read(from: number, count: number): Promise<ReplayEntry[]> {
    // Every message must be in the store before any of it reaches the wire: one save per read.
    if (!this.#persistence.saveUpTo(this.#outSeq)) throw new StoreUnavailable();
    const out: ReplayEntry[] = [];
    for (let seq = from; seq <= this.#outSeq && out.length < count; seq++) {
      const e = this.#replay.get(seq);
      if (e) out.push(e);
    }
    return out;
  }

  async lastSeq(): Promise<number> {
    return this.#outSeq;
  }

  async wrote(epoch: number, seq: number): Promise<void | Fenced> {
    if (epoch !== this.#epoch) return 'fenced';
    if (seq > this.#maxWritten) this.#maxWritten = seq;
  }

  async acknowledge(epoch: number, a: number): Promise<void | Fenced> {
    if (epoch !== this.#epoch) return 'fenced';
    this.#acknowledged(a);
  }

  async claim(epoch: number, s: number, n: number): Promise<number | 'gap' | Fenced> {
    if (epoch !== this.#epoch) return 'fenced';
    const skip = faults.noDedupe && s <= this.#claimed + 1 ? 0 : duplicatesIn(this.#claimed, s, n);
    if (skip < 0) return 'gap';
    if (s + n - 1 > this.#claimed) this.#claimed = s + n - 1;
    return skip;
  }

  async commit(epoch: number, inSeq: number): Promise<void | Fenced> {
    if (epoch !== this.#epoch) return 'fenced';
    if (inSeq > this.#inSeq) this.#inSeq = inSeq;
    if (!this.#persistence.save()) throw new StoreUnavailable();
  }

  /** What the session store keeps. */
  snapshot(): StoredSession {
    const s: StoredSession = {
      sid: this.id,
      key: this.#key,
      remoteAddress: this.remoteAddress,
      received: this.#inSeq,
      nextSeq: this.#outSeq + 1,
      replay: this.#replay.pairs(),
    };
    if (this.#expiresAt !== undefined) s.expiresAt = this.#expiresAt;
    return s;
  }

  #acknowledged(a: number): void {
    if (a <= this.#peerAcked) return;
    this.#peerAcked = a;
    this.#replay.acknowledge(a);
    this.#persistence.saveLater();
  }

  /** A message the client has not received (seq > `clientAck`) that is too large for `clientMax`. */
  #cannotTake(clientAck: number, clientMax: number): string | undefined {
    for (let seq = Math.max(clientAck + 1, this.#replay.firstSeq ?? Infinity); seq <= this.#outSeq; seq++) {
      const why = tooLargeFor(this.engine.host.options.maxMessageBytes, this.#replay.get(seq)!.bytes, clientMax);
      if (why) return `unsent ${why}`;
    }
  }

  /**
   * Keeps the replay buffer within bounds by dropping the oldest messages; the session can then
   * no longer resume. Undefined when nothing was dropped; else whether a dropped message had
   * never been written (past `written`).
   */
  #enforceBounds(written: number): boolean | undefined {
    const { maxMessages, maxBytes } = this.engine.host.options.replay;
    const replay = this.#replay;
    let unwritten: boolean | undefined;
    while (replay.size > maxMessages || replay.bytes > maxBytes) {
      unwritten = replay.dropOldest().seq > written || unwritten === true;
    }
    if (unwritten !== undefined) this.#overrun = true;
    return unwritten;
  }
}
