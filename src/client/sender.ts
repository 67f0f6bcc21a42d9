import { utf8Length } from '../protocol';
import type { Endpoint } from './endpoint';
import type { Env } from './env';
import { RealtimeError, type ErrorCode } from './errors';
import type { SendOptions } from './options';
import type { Outbox, Pending } from './queue';
import type { ConnectionState } from './state';
import type { Connection } from './transports/types';

/** Above this many unwritten bytes, outgoing messages wait and go out as one batch. */
const BACKLOG_BYTES = 1 << 16;

/** What the sender reads from the client. */
export interface SenderHost {
  readonly state: ConnectionState;
  /** The connection carrying the session, if any. */
  readonly connection: Connection | null;
}

/**
 * The client's outgoing side: `send()` checks a message and queues it with its promise and its
 * ttl; the queue is written to the connection a batch per task, and waits behind a backlog.
 */
export class Sender {
  #flushQueued = false;
  #flushTimer: unknown;

  constructor(
    private readonly env: Env,
    private readonly outbox: Outbox,
    private readonly endpoint: Endpoint,
    private readonly host: SenderHost,
  ) {}

  /**
   * Queues one message. Resolves when the server acknowledges it (v1) or when it is handed to
   * the transport (plain); rejects with a typed error saying why it never will.
   */
  send(data: unknown, options: SendOptions): Promise<void> {
    let json: string | undefined;
    let cause: unknown;
    try {
      json = this.endpoint.serialize(data);
    } catch (e) {
      cause = e;
    }
    if (json === undefined)
      return reject(
        'not-serializable',
        `send(${typeof data}): not JSON-serializable: no cycles, BigInts, functions or undefined`,
        data,
        cause,
      );
    if (this.host.state === 'closed') return reject('closed', 'send() on a closed client: call connect() first', data);
    const bytes = utf8Length(json);
    const tooLarge = this.endpoint.tooLarge(bytes);
    if (tooLarge) return reject('message-too-large', tooLarge, data);
    const full = this.outbox.refuse(bytes);
    if (full) return reject('queue-full', `Queue full (${full}): await earlier send()s or raise ${full}`, data);
    return new Promise<void>((resolve, rej) => {
      const { ttl, key } = options;
      let timer: unknown;
      const exp = ttl === undefined ? undefined : this.env.now() + ttl;
      const p = this.outbox.push({
        json: json,
        bytes,
        data,
        key,
        exp,
        resolve: () => {
          this.env.clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          this.env.clearTimeout(timer);
          rej(e);
        },
      });
      timer = this.expire(p);
      this.schedule();
    });
  }

  /** Arms a message's ttl: still unsent when it runs out, it is taken out and rejected with 'expired'. */
  expire(p: Pending): unknown {
    if (p.exp === undefined) return;
    return this.env.setTimeout(() => {
      if (this.outbox.remove(p)) p.reject(new RealtimeError('expired', 'Not sent within its ttl', { data: p.data }));
    }, p.exp - this.env.now());
  }

  /** Writes soon: a microtask gathers every send() of the current task into one frame at no latency cost. */
  schedule(): void {
    if (this.#flushQueued || this.host.state !== 'open') return;
    this.#flushQueued = true;
    queueMicrotask(() => this.#flushQueued && this.flush());
  }

  /** Writes what the queue holds now, unless the connection is backlogged. */
  flush(): void {
    this.#flushQueued = false;
    const conn = this.host.connection;
    if (!conn || this.host.state !== 'open') return;
    // Behind a backlog, wait for the socket to drain; whatever arrives meanwhile joins one larger batch.
    if (conn.buffered > BACKLOG_BYTES || this.endpoint.flush(conn)) {
      this.#flushQueued = true;
      this.#flushTimer = this.env.setTimeout(() => this.flush(), 5);
    }
  }

  /** The connection is gone: nothing is written until the next one opens. */
  stop(): void {
    this.env.clearTimeout(this.#flushTimer);
    this.#flushQueued = false;
  }
}

function reject(code: ErrorCode, message: string, data: unknown, cause?: unknown): Promise<never> {
  return Promise.reject(new RealtimeError(code, message, { data, cause }));
}
