import type { Env } from './env';
import type { ErrorCode, RealtimeError } from './errors';
import type { Outbox } from './queue';
import type { ConnectionState } from './state';
import type { Connection, OpenContext, ResumeState } from './transports/types';

/** What a session leaves for a later page to resume (the persisted queue keeps it). */
export interface SessionSnapshot {
  sid?: string | undefined;
  key?: string | undefined;
  /** Highest server seq received without a gap. */
  a: number;
}

/** What an endpoint needs from the client. */
export interface EndpointHost {
  readonly env: Env;
  readonly state: ConnectionState;
  readonly outbox: Outbox;
  /** The session can carry messages: watch it with this liveness deadline in ms (0: none), and report 'open'. */
  opened(deadline: number, resumed: boolean): void;
  /**
   * One message from the server, for the 'message' event, with its sequence number when the
   * protocol numbers messages (v1), so a tab sharing the connection can tell a replay from news.
   */
  deliver(data: unknown, seq?: number): void;
  /** Reports an error event. */
  error(e: RealtimeError): void;
  /**
   * A frame we will not take: reports it, then replaces the connection. While open that waits out
   * the backoff, so a server repeating the frame on every resume causes no tight loop.
   */
  refuse(code: ErrorCode, message: string, closeCode: number): void;
  /** The server ended the connection with this close code (a close frame), as a transport's close would. */
  closed(code: number, reason: string): void;
  /** Something waits to be written: flush soon. */
  flushSoon(): void;
  /** The highest server seq the client may acknowledge now: a persisted queue holds acks back until saved. */
  ackable(received: number): number;
}

/**
 * One way to talk to an endpoint over any transport: the v1 session (hello, acks, resume, dedupe)
 * or plain mode. The client holds one, chosen at construction, and never asks which.
 */
export interface Endpoint {
  /** Whether the session outlives its connection, so it may move to another transport (upgrade probes). */
  readonly resumable: boolean;
  /** What every connection opens with besides the client's own context: plain mode's resume state. */
  readonly context: Partial<OpenContext>;
  /**
   * Where an endpoint that numbers no messages resumes from (plain mode: Last-Event-ID, cursor,
   * ETag), the object its connections update as messages arrive. Tab sharing numbers such an
   * endpoint's messages itself, keeps this after each, and starts the next holder from it.
   * Absent: the endpoint resumes by its own sequence numbers, or not at all.
   */
  readonly position?: ResumeState;
  /** The text send() queues for `data`; throws, or returns undefined, when it has none. */
  serialize(data: unknown): string | undefined;
  /** Why a message of `bytes` cannot go out, or undefined when it can. */
  tooLarge(bytes: number): string | undefined;
  /** The token for the next attempt, or undefined when this endpoint sends none. */
  credentials(): Promise<string | undefined> | undefined;
  /** A transport opened: greet the server, with the token when the transport does not carry it. */
  connected(conn: Connection, token: string | undefined): void;
  /** One frame from the server, already checked against maxFrameSize. */
  frame(text: string): void;
  /** The server broke the protocol below the frames (a transport's verdict). */
  protocolError(what: string): void;
  /** Writes what waits; true when it had to stop at a backlog and wants to be called again. */
  flush(conn: Connection): boolean;
  /** The connection is gone: drop what was owed to it. */
  disconnected(): void;
  /** The client closed: forget the session. */
  reset(): void;
  snapshot(): SessionSnapshot;
  /** Takes over a session an earlier page left. */
  restore(s: SessionSnapshot): void;
  /** A save completed: acks it held back may go out. */
  ackReleased(): void;
}

/** What every endpoint is created with, from the client's options. */
export interface EndpointOptions {
  auth: (() => string | null | undefined | Promise<string | null | undefined>) | undefined;
  ackDelay: number;
  /** heartbeat.timeout */
  timeout: number;
  /** heartbeat.idleTimeout */
  idleTimeout: number;
  /** maxFrameSize */
  maxFrame: number;
}

/** A protocol the client can speak, given as `options.protocol`: `v1` (built in) or `plain()`. */
export interface Protocol {
  readonly name: string;
  create(host: EndpointHost, options: EndpointOptions): Endpoint;
}

/** What `text` holds as JSON, or the text itself when it is not JSON (plain mode sends strings as they are). */
export function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
