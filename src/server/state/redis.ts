import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import { FRAME_OVERHEAD, tooLargeFor } from '../../protocol';
import { SCRIPTS, type ScriptName } from './redis-scripts';
import type {
  Appended,
  Attached,
  EngineHost,
  Fenced,
  LinkDirectory,
  ReplayEntry,
  ResumeRefusal,
  SessionEngine,
  SessionState,
} from './types';

/**
 * Sessions in Redis, shared by every server process that uses the same Redis (docs/protocol.md,
 * "Server clusters"): any process serves any request of any session; the one holding a session's
 * current link writes to its client and handles its frames; any one may send to it. Every key of
 * a session shares a hash tag, so Redis Cluster keeps a session in one slot.
 */
export interface RedisClusterOptions {
  /** One Redis: `redis://host:port` (with `rediss://`, password and db as ioredis takes them). */
  url?: string;
  /** Redis Cluster: its seed nodes. */
  nodes?: ClusterNode[];
  /** Or a client of your own (Redis or Cluster): the engine duplicates it for its subscription, and leaves it open at close(). */
  client?: Redis | Cluster;
  /**
   * Prefix of every key and channel, so several applications can share one Redis.
   * @default 'rt:'
   */
  prefix?: string;
  /** Options for the clients the engine creates from `url` or `nodes` (ioredis's). @default {} */
  redisOptions?: RedisOptions;
}

/** A command refused because its session's record is gone (expired, ended, or Redis lost it). */
export class SessionGone extends Error {
  constructor(sid: string) {
    super(`session ${sid.slice(0, 6)}… is gone from Redis`);
  }
}

const SID = /^[A-Za-z0-9_-]{1,64}$/;
const newSecret = (): string => randomBytes(18).toString('base64url'); // 144 bits, 24 chars
const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');

type Client = Redis | Cluster;
type Run = (name: ScriptName, keys: string[], args: Array<string | number>) => Promise<unknown>;

/** Redis, as the `cluster` option of RealtimeServer: `cluster: redisCluster({ url })`. */
export function redisCluster(options: RedisClusterOptions): SessionEngine {
  return new RedisEngine(options);
}

/** Most messages one append script call carries (the script holds Redis while it runs). */
const APPEND_BATCH = 1000;

/** How long a link's entry in the directory lasts without being renewed by its holder. */
const LINK_ENTRY_MS = 10 * 60_000;
/**
 * Each process says it runs every NODE_BEAT_MS, in a key that lasts NODE_ALIVE_MS: a process
 * relaying a request to a link's holder learns within seconds that the holder died, instead of
 * waiting out the request's whole bound. Longer than a beat, so that a busy event loop or a
 * slow round trip is not taken for death.
 */
const NODE_BEAT_MS = 1000;
const NODE_ALIVE_MS = 5000;

export class RedisEngine implements SessionEngine, LinkDirectory {
  readonly prefix: string;
  /** This process, as named in the record of the sessions it holds. */
  readonly node = newSecret();
  readonly client: Client;
  private readonly sub: Client;
  private readonly own: boolean;
  #host: EngineHost | undefined;
  /** The sessions whose link this process holds: their lease is renewed, and a lost wake-up is made up for. */
  private readonly held = new Map<string, RedisState>();
  private renewTimer: ReturnType<typeof setInterval> | null = null;
  private beatTimer: ReturnType<typeof setInterval> | null = null;
  private subscribed = false;
  /** The HTTP links this process holds, for their directory entries. */
  private readonly ownLinks = new Set<string>();
  /** Numbers this process's claims and appends, so that a script run twice can tell (redis-scripts.ts). */
  #ops = 0;

  constructor(options: RedisClusterOptions) {
    this.prefix = options.prefix ?? 'rt:';
    const redisOptions: RedisOptions = {
      // While Redis is away, commands wait (in order) for its return, a bounded number of reconnects.
      retryStrategy: (times) => Math.min(times * 50, 1000),
      ...options.redisOptions,
    };
    if (options.client) {
      this.client = options.client;
      this.own = false;
    } else if (options.nodes) {
      this.client = new Cluster(options.nodes, { redisOptions });
      this.own = true;
    } else if (options.url) {
      this.client = new Redis(options.url, redisOptions);
      this.own = true;
    } else throw new TypeError('redisCluster: give { url }, { nodes } or { client }');
    for (const [name, { keys, lua }] of Object.entries(SCRIPTS))
      this.client.defineCommand(name, { numberOfKeys: keys, lua });
    this.sub = this.client.duplicate();
    this.#reportOutages(this.client, 'redis');
    this.#reportOutages(this.sub, 'redis subscription');
  }

  get host(): EngineHost {
    if (!this.#host) throw new Error('redisCluster: pass it as the cluster option of one RealtimeServer');
    return this.#host;
  }

  /** Unavailable during an outage; while it first connects, commands wait in order and go out once it is up. */
  get available(): boolean {
    const status = this.client.status;
    return status !== 'reconnecting' && status !== 'close' && status !== 'end';
  }

  bind(host: EngineHost): void {
    if (this.#host) throw new Error('redisCluster: one engine per RealtimeServer');
    this.#host = host;
    this.sub.on('message', (_channel: string, message: string) => this.#notice(message));
    this.sub.on('ready', () => {
      // Back after a cut: a wake-up may have been lost meanwhile. The data is in the streams, so
      // asking each held session where it stands makes up for it.
      if (this.subscribed) for (const state of this.held.values()) void state.catchUp();
      this.subscribed = true;
    });
    void this.sub
      .subscribe(this.channel(this.node))
      .catch((err: unknown) => host.reportError(err, 'redis subscription'));
    // The holder renews its sessions' lease: a process that dies leaves them as if disconnected.
    const every = Math.max(1000, Math.min(Math.floor(host.options.sessionTtl / 4), LINK_ENTRY_MS / 3));
    this.renewTimer = setInterval(() => this.#renewAll(), every);
    this.renewTimer.unref?.();
    // Before any link of this process is registered (same connection, in order).
    this.#beat();
    this.beatTimer = setInterval(() => this.#beat(), NODE_BEAT_MS);
    this.beatTimer.unref?.();
  }

  #beat(): void {
    void this.client.set(this.aliveKey(this.node), '1', 'PX', NODE_ALIVE_MS).catch(() => {});
  }

  async create(remoteAddress: string): Promise<SessionState> {
    const sid = newSecret();
    const key = newSecret();
    await this.run('create', [this.recordKey(sid)], [hashKey(key), remoteAddress, this.host.options.sessionTtl]);
    await this.client.zadd(this.indexKey, Date.now() + this.host.options.sessionTtl, sid);
    return new RedisState(this, sid, key, remoteAddress);
  }

  async find(sid: string, key: string): Promise<SessionState | undefined> {
    if (!SID.test(sid)) return;
    const [kh, addr] = await this.client.hmget(this.recordKey(sid), 'kh', 'addr');
    if (!kh) return;
    const stored = Buffer.from(kh);
    const given = Buffer.from(hashKey(key));
    if (stored.length !== given.length || !timingSafeEqual(stored, given)) return;
    return new RedisState(this, sid, key, addr ?? 'unknown');
  }

  restored(): SessionState[] {
    return []; // every session is in Redis already: the processes find them as their clients come back
  }

  async broadcast(json: string, bytes: number): Promise<number> {
    const sids = await this.client.zrangebyscore(this.indexKey, Date.now(), '+inf');
    const results = await Promise.all(
      sids.map((sid) => this.append(sid, [{ json, bytes }]).catch(() => ({ ended: true as const }))),
    );
    return results.filter((r) => !('ended' in r)).length;
  }

  // ---- the link directory ----------------------------------------------------------------

  get links(): LinkDirectory {
    return this;
  }

  async register(linkId: string): Promise<void> {
    this.ownLinks.add(linkId);
    await this.client.set(this.linkKey(linkId), this.node, 'PX', LINK_ENTRY_MS);
  }

  unregister(linkId: string): void {
    if (!this.ownLinks.delete(linkId)) return;
    void this.client.del(this.linkKey(linkId)).catch(() => {});
  }

  async holder(linkId: string): Promise<string | undefined> {
    return (await this.client.get(this.linkKey(linkId))) ?? undefined;
  }

  async send(node: string, message: string): Promise<void> {
    await this.client.publish(this.channel(node), `x ${message}`);
  }

  async alive(node: string): Promise<boolean> {
    return (await this.client.exists(this.aliveKey(node))) === 1;
  }

  private linkKey(linkId: string): string {
    return `${this.prefix}link:${linkId}`;
  }

  private aliveKey(node: string): string {
    return `${this.prefix}alive:${node}`;
  }

  async close(): Promise<void> {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = null;
    if (this.beatTimer) clearInterval(this.beatTimer);
    this.beatTimer = null;
    await this.client.del(this.aliveKey(this.node)).catch(() => {});
    this.held.clear();
    await this.sub.quit().catch(() => {});
    if (this.own) await this.client.quit().catch(() => {});
  }

  // ---- for RedisState -------------------------------------------------------------------

  readonly run: Run = (name, keys, args) =>
    (this.client as unknown as Record<ScriptName, (...a: Array<string | number>) => Promise<unknown>>)[name](
      ...keys,
      ...args,
    );

  recordKey(sid: string): string {
    return `${this.prefix}{${sid}}`;
  }

  streamKey(sid: string): string {
    return `${this.prefix}{${sid}}:out`;
  }

  get indexKey(): string {
    return `${this.prefix}sessions`;
  }

  channel(node: string): string {
    return `${this.prefix}node:${node}`;
  }

  /** Queues messages for `sid`'s client, whichever process holds it. */
  async append(sid: string, messages: ReadonlyArray<{ json: string; bytes: number }>): Promise<Appended> {
    const { replay } = this.host.options;
    const args: Array<string | number> = [
      replay.maxMessages,
      replay.maxBytes,
      this.channel(''),
      sid,
      this.node,
      this.nextOp(),
    ];
    for (const m of messages) args.push(m.json, m.bytes);
    const r = (await this.run('append', [this.recordKey(sid), this.streamKey(sid)], args)) as [
      string,
      number?,
      number?,
      number?,
    ];
    if (r[0] === 'gone') {
      void this.client.zrem(this.indexKey, sid).catch(() => {});
      return { ended: true };
    }
    const last = Number(r[1]);
    if (r[0] === 'ok') return { last };
    return { overrun: true, unwritten: r[2] === 1, attached: r[3] === 1, last };
  }

  /** A number for an operation of this process, greater than every one before. */
  nextOp(): number {
    return ++this.#ops;
  }

  hold(state: RedisState): void {
    this.held.set(state.id, state);
  }

  release(state: RedisState): void {
    if (this.held.get(state.id) === state) this.held.delete(state.id);
  }

  /** Reports the first error of an outage, not every failed reconnect after it. */
  #reportOutages(client: Client, context: string): void {
    let down = false;
    client.on('error', (err) => {
      if (!down) this.#host?.reportError(err, context);
      down = true;
    });
    client.on('ready', () => (down = false));
  }

  #notice(message: string): void {
    if (message.startsWith('x ')) return this.host.relayed(message.slice(2));
    const [kind, sid, arg] = message.split(' ');
    if (!sid) return;
    if (kind === 'w') this.host.woke(sid, Number(arg));
    else if (kind === 'f') this.host.fenced(sid, Number(arg));
    else if (kind === 'o') this.host.ended(sid, 4500, 'replay buffer overrun: client too slow');
  }

  #renewAll(): void {
    for (const id of this.ownLinks) void this.client.pexpire(this.linkKey(id), LINK_ENTRY_MS).catch(() => {});
    const lease = this.host.options.sessionTtl;
    for (const state of this.held.values()) {
      void this.run('renew', [this.recordKey(state.id), this.streamKey(state.id)], [state.epoch, lease]).catch(
        (err: unknown) => this.host.reportError(err, 'redis'),
      );
      void this.client.zadd(this.indexKey, Date.now() + lease, state.id).catch(() => {});
    }
  }
}

/** One session's state in Redis, as one process sees it. */
class RedisState implements SessionState {
  readonly #key: string;
  readonly #keyBytes: Buffer;
  /** The epoch of the latest link this process attached. */
  epoch = 0;
  /** As far as this process knows: highest seq assigned, and acknowledged. */
  #out = 0;
  #acked = 0;
  #overrun = false;

  constructor(
    private readonly engine: RedisEngine,
    readonly id: string,
    key: string,
    readonly remoteAddress: string,
  ) {
    this.#key = key;
    this.#keyBytes = Buffer.from(key);
  }

  get key(): string {
    return this.#key;
  }

  get unacknowledged(): number {
    return Math.max(0, this.#out - this.#acked);
  }

  get resumable(): boolean {
    return !this.#overrun;
  }

  matchesKey(key: string): boolean {
    const given = Buffer.from(key);
    return given.length === this.#keyBytes.length && timingSafeEqual(given, this.#keyBytes);
  }

  async attach(clientAck: number | undefined, clientMax: number): Promise<Attached | ResumeRefusal> {
    const e = this.engine;
    const { maxMessageBytes, sessionTtl } = e.host.options;
    const limit = Math.min(maxMessageBytes, clientMax) - FRAME_OVERHEAD;
    const r = (await e.run('attach', this.#keys(), [
      clientAck ?? '',
      limit,
      e.node,
      sessionTtl,
      e.channel(''),
      this.id,
    ])) as [string, ...Array<string | number>];
    if (r[0] === 'gone') return { why: 'gone' };
    if (r[0] === 'bad-ack') return { why: 'bad-ack' };
    if (r[0] === 'too-large')
      return { why: 'too-large', reason: `unsent ${tooLargeFor(maxMessageBytes, Number(r[2]), clientMax)}` };
    this.epoch = Number(r[1]);
    this.#out = Number(r[3]);
    if (clientAck !== undefined && clientAck > this.#acked) this.#acked = clientAck;
    e.hold(this);
    void e.client.zadd(e.indexKey, Date.now() + sessionTtl, this.id).catch(() => {});
    return { epoch: this.epoch, inSeq: Number(r[2]), lastSeq: this.#out };
  }

  async detach(epoch: number, expiresAt: number): Promise<void> {
    const e = this.engine;
    e.release(this);
    if ((await e.run('detach', this.#keys(), [epoch, Math.max(1, expiresAt - Date.now())])) === 1)
      await e.client.zadd(e.indexKey, expiresAt, this.id);
  }

  async end(): Promise<void> {
    const e = this.engine;
    e.release(this);
    await e.client.del(...this.#keys());
    await e.client.zrem(e.indexKey, this.id);
  }

  async expire(epoch: number): Promise<boolean> {
    const e = this.engine;
    if ((await e.run('expire', this.#keys(), [epoch])) !== 1) return false;
    e.release(this);
    await e.client.zrem(e.indexKey, this.id);
    return true;
  }

  /**
   * Appends made in the same turn of the event loop (a loop of session.send(), say) go to Redis
   * together, APPEND_BATCH messages per script call, rather than one call each: a call costs far
   * more in this process (command, reply, wake-up) than a message does in Redis. The calls go out
   * at once, in order, on the one connection, so later appends still come after. Every caller
   * gets the outcome of the whole batch. Each call carries its own op number (engine.append), taken
   * as it goes out, so the numbers grow in sending order and a call resent after a lost reply is
   * stored once (redis-scripts.ts, append).
   */
  append(messages: ReadonlyArray<{ json: string; bytes: number }>): Promise<Appended> {
    let batch = this.#batch;
    if (!batch) {
      batch = this.#batch = { messages: [], outcome: undefined! };
      batch.outcome = new Promise<void>((resolve) => queueMicrotask(resolve)).then(() => this.#appendBatch());
    }
    for (const m of messages) batch.messages.push(m);
    return batch.outcome;
  }

  #batch: { messages: Array<{ json: string; bytes: number }>; outcome: Promise<Appended> } | null = null;

  async #appendBatch(): Promise<Appended> {
    const { messages } = this.#batch!;
    this.#batch = null;
    const calls: Array<Promise<Appended>> = [];
    for (let i = 0; i < messages.length; i += APPEND_BATCH)
      calls.push(this.engine.append(this.id, messages.slice(i, i + APPEND_BATCH)));
    const results = await Promise.all(calls);
    const ended = results.find((r) => 'ended' in r);
    if (ended) return ended;
    const last = Math.max(...results.map((r) => ('ended' in r ? 0 : r.last)));
    if (last > this.#out) this.#out = last;
    const overruns = results.filter((r): r is Extract<Appended, { overrun: true }> => 'overrun' in r);
    if (!overruns.length) return { last };
    this.#overrun = true;
    return { overrun: true, unwritten: overruns.some((r) => r.unwritten), attached: overruns.at(-1)!.attached, last };
  }

  async read(from: number, count: number): Promise<ReplayEntry[]> {
    const entries = await this.engine.client.xrange(this.engine.streamKey(this.id), `${from}-0`, '+', 'COUNT', count);
    return entries.map(([id, fields]) => ({ seq: parseInt(id, 10), json: fields[1]!, bytes: Number(fields[3]) }));
  }

  async lastSeq(): Promise<number> {
    const out = await this.engine.client.hget(this.engine.recordKey(this.id), 'out');
    if (out === null) throw new SessionGone(this.id);
    return Number(out);
  }

  async wrote(epoch: number, seq: number): Promise<void | Fenced> {
    return this.#checked(await this.engine.run('wrote', [this.engine.recordKey(this.id)], [epoch, seq]));
  }

  async acknowledge(epoch: number, a: number): Promise<void | Fenced> {
    const r = this.#checked(await this.engine.run('acknowledge', this.#keys(), [epoch, a]));
    if (!r && a > this.#acked) this.#acked = a;
    return r;
  }

  async claim(epoch: number, s: number, n: number): Promise<number | 'gap' | Fenced> {
    const e = this.engine;
    const r = await e.run('claim', [e.recordKey(this.id)], [epoch, s, n, `${e.node}:${e.nextOp()}`]);
    if (r === 'gap') return 'gap';
    return this.#checked(r) ?? Number(r);
  }

  async commit(epoch: number, inSeq: number): Promise<void | Fenced> {
    return this.#checked(await this.engine.run('commit', [this.engine.recordKey(this.id)], [epoch, inSeq]));
  }

  /** After a lost wake-up: where the session stands, for its holder to write what it missed. */
  async catchUp(): Promise<void> {
    try {
      this.engine.host.woke(this.id, await this.lastSeq());
    } catch (err) {
      // Gone meanwhile (Redis restarted empty, say): the session is over; its client will learn it on resume.
      if (err instanceof SessionGone) this.engine.host.ended(this.id, 4500, 'session gone from the store');
      else this.engine.host.reportError(err, 'redis');
    }
  }

  #keys(): string[] {
    return [this.engine.recordKey(this.id), this.engine.streamKey(this.id)];
  }

  /** 'fenced' passes through, 'gone' throws, anything else is success. */
  #checked(r: unknown): Fenced | undefined {
    if (r === 'fenced') return 'fenced';
    if (r === 'gone') throw new SessionGone(this.id);
    return undefined;
  }
}
