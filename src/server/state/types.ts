/**
 * Where a session's state lives: this process's memory (`memory.ts`, the default), or Redis,
 * shared by several server processes (`redis.ts`). The protocol logic (../session.ts) is the same
 * over both; only what is kept where, and how long an operation takes, differ.
 *
 * One node at a time holds a session's current link and acts for it; any node may append
 * messages for its client. Every operation of a link names the link's epoch: once a newer link
 * has attached (on any node), the older one's operations are refused with 'fenced' and change
 * nothing, so an old link can never write after a newer one took over.
 *
 * Any operation may reject when the store is unavailable (a session store that failed to save,
 * Redis down): the caller then promises nothing that depends on it (no welcome, no ack), and the
 * link closes with 4500 so that the client resumes later.
 */

/** A message in the replay buffer: its sequence number and its JSON, serialised once. */
export interface ReplayEntry {
  seq: number;
  json: string;
  /** UTF-8 bytes of `json`. */
  bytes: number;
}

/** The state refused an operation of an older link: a newer one holds the session now. */
export type Fenced = 'fenced';

/** What a link attaching to a session learns. */
export interface Attached {
  /** The link's epoch: it names the link in every later operation. */
  epoch: number;
  /** Highest client seq received contiguously: welcome's `a`. */
  inSeq: number;
  /** Highest seq assigned so far: what the link has to write up to. */
  lastSeq: number;
}

/** Why a session cannot be resumed from a hello; the client gets a new session instead. */
export type ResumeRefusal =
  /** Ended, expired, or its replay buffer overran: what the client missed is gone. */
  | { why: 'gone' }
  /** hello.a is below what the client already acknowledged, or above anything ever written. */
  | { why: 'bad-ack' }
  /** A message the client has yet to receive does not fit its (new, smaller) hello.max: the session ends with 4413. */
  | { why: 'too-large'; reason: string };

/** How appending went. */
export type Appended =
  /** Queued; `last` is the seq of the last message appended. */
  | { last: number }
  /**
   * The replay bounds dropped messages: the session can never resume. `unwritten`: some had
   * never reached the client, which leaves a gap it cannot get past. `attached`: a link holds
   * the session (here, or on another process, which is told). Held by none, it ends.
   */
  | { overrun: true; unwritten: boolean; attached: boolean; last: number }
  /** The session is over: nothing was appended. */
  | { ended: true };

export interface SessionState {
  readonly id: string;
  /** The secret resume key, for the welcome frame. Never logged. */
  readonly key: string;
  /** Client address, for the per-address limits. */
  readonly remoteAddress: string;
  /** Messages sent and not yet acknowledged, as far as this process knows. */
  readonly unacknowledged: number;
  /**
   * False once an overrun of the replay bounds dropped messages (as far as this process knows):
   * no resume can get them back, so the session ends with its link instead of waiting for one.
   */
  readonly resumable: boolean;

  /** Whether `key` is this session's resume key (in constant time). */
  matchesKey(key: string): boolean;

  /**
   * A new link takes the session: older links are fenced. `clientAck` is hello.a when resuming
   * (undefined for a new session); `clientMax` is hello.max (Infinity without one).
   */
  attach(clientAck: number | undefined, clientMax: number): Promise<Attached | ResumeRefusal>;
  /** The link is gone; the session stays resumable until `expiresAt` (Date.now() based). */
  detach(epoch: number, expiresAt: number): Promise<void>;
  /** The session is over for good (closed by either side): its state is released. */
  end(): Promise<void>;
  /**
   * The session's time without a link ran out here. True: it expired and its state is released;
   * false: a link attached since the one of `epoch` (on another process), and it lives on there.
   */
  expire(epoch: number): Promise<boolean>;

  /**
   * Queues messages for the client, in order; each gets the next seq. `written` is the highest
   * seq written to the current link, so an overrun can tell whether it dropped unwritten ones.
   * Appends made in one turn of the event loop may be stored together (Redis: a few script
   * calls for a burst), in call order; each then resolves with the outcome of the whole lot, so
   * `last` is at or past the seq of its own last message.
   */
  append(messages: ReadonlyArray<{ json: string; bytes: number }>, written: number): Promise<Appended>;
  /**
   * Up to `count` messages from seq `from` on, in order; fewer when fewer are buffered. Only
   * what a restart of this process would keep: a message may reach the wire only once stored.
   */
  read(from: number, count: number): Promise<ReplayEntry[]>;
  /** Highest seq assigned so far (0 before any). */
  lastSeq(): Promise<number>;
  /** Records that messages up to `seq` reached a link (resumes may not claim more). */
  wrote(epoch: number, seq: number): Promise<void | Fenced>;
  /** The client acknowledged every message up to `a`: they leave the replay buffer. */
  acknowledge(epoch: number, a: number): Promise<void | Fenced>;

  /**
   * Client messages `s` .. `s + n - 1` arrived: how many leading ones were received before
   * (resent after a resume), or 'gap' when `s` is past the next expected one.
   */
  claim(epoch: number, s: number, n: number): Promise<number | 'gap' | Fenced>;
  /**
   * They were delivered to the application, up to `inSeq`: recorded before any ack may cover
   * them (deliver, record, ack: a crash in between delivers them again, with the same seq, rather
   * than losing them).
   */
  commit(epoch: number, inSeq: number): Promise<void | Fenced>;
}

/** What an engine needs from the server that uses it. */
export interface EngineHost {
  readonly options: {
    readonly sessionTtl: number;
    readonly heartbeatInterval: number;
    readonly maxMessageBytes: number;
    readonly replay: { readonly maxMessages: number; readonly maxBytes: number };
  };
  /** Another process appended messages for a session this one holds the link of: up to `lastSeq`. */
  woke(sid: string, lastSeq: number): void;
  /** A newer link (on another process) took a session this one holds the link of. */
  fenced(sid: string, epoch: number): void;
  /** A session this process holds must end (replay overrun seen by another process, memory eviction). */
  ended(sid: string, code: number, reason: string): void;
  /** A message another process sent this one through {@link LinkDirectory.send}. */
  relayed(message: string): void;
  reportError(error: unknown, context: string): void;
}

/**
 * Where a server keeps its sessions, chosen once at construction: memory by default, or Redis
 * (`cluster: redisCluster({ url })`, from realtime-client/server/redis) for several processes.
 */
export interface SessionEngine {
  /** Called once, by the server that uses the engine. */
  bind(host: EngineHost): void;
  /** Whether a new session can be stored now (false while Redis is unreachable). */
  readonly available: boolean;
  /** A new session, with a fresh id and key. */
  create(remoteAddress: string): Promise<SessionState>;
  /**
   * A session this process does not hold (another process created it, or served it last): its
   * state if `key` is its key, else undefined. Never throws for a wrong key.
   */
  find(sid: string, key: string): Promise<SessionState | undefined>;
  /** Sessions kept from before this process started, to restore (disconnected, resumable). */
  restored(): SessionState[];
  /**
   * Queues one message for every live session, of this process or another. Resolves with how
   * many got it. Undefined: the engine knows no sessions but this process's (the server sends
   * to its own then).
   */
  broadcast?(json: string, bytes: number): Promise<number>;
  /** Releases connections and timers; the sessions stay where they are kept. */
  close(): Promise<void>;
  /** Present when several processes share the sessions: where each HTTP link is. */
  readonly links?: LinkDirectory;
}

/**
 * Which process holds which HTTP link, and messages between processes. An HTTP link lives in
 * the process whose response carries it; the client's POSTs and polls for it may reach any
 * process, which relays them to the holder (http/relay.ts).
 */
export interface LinkDirectory {
  /** This process's name among them. */
  readonly node: string;
  /**
   * A link this process opened; until unregister(). Resolves once any process can find it: only
   * then may its id go to the client, whose next request may reach any of them.
   */
  register(linkId: string): Promise<void>;
  unregister(linkId: string): void;
  /** The process holding link `linkId`, or undefined when none does (ended, or its process died). */
  holder(linkId: string): Promise<string | undefined>;
  /** Sends `message` to process `node`, whose host gets it as relayed(message). */
  send(node: string, message: string): Promise<void>;
  /** Whether process `node` is still running (it said so within the last few seconds). */
  alive(node: string): Promise<boolean>;
}
