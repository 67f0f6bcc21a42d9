/** Every error the client reports. Switch on `error.code`. */
export type ErrorCode =
  /** Bad options or API misuse (wrong argument type, unknown transport name). */
  | 'invalid-argument'
  /** `send()` data that JSON cannot represent (undefined, a function, a BigInt, a cycle). */
  | 'not-serializable'
  /**
   * A message larger than the server's (or the queue's) byte limit; or, on the 'error' event, a
   * frame from the server larger than `maxFrameSize` (the client then reconnects after backoff).
   */
  | 'message-too-large'
  /** The offline queue is at `queue.maxMessages` or `queue.maxBytes`. */
  | 'queue-full'
  /** A message with a `ttl` that could not be sent in time. */
  | 'expired'
  /** `send()` after `close()`, or a message still pending when `close()` was called. */
  | 'closed'
  /** The server could not resume the session: messages it had not acknowledged may not have arrived. */
  | 'session-lost'
  /** The server sent a frame that breaks the protocol. The client reconnects and resumes. */
  | 'protocol-error'
  /** The server refused the token from `auth`, or access (HTTP 403), repeatedly. */
  | 'unauthorized'
  /** A connect attempt failed on every transport it tried (each one's reason is in the message); the client retries. */
  | 'connect-failed'
  /** The server closed with a code that forbids reconnecting (see CloseCode). */
  | 'connection-refused'
  /** `reconnect.maxAttempts` attempts failed, or reconnect is off and the connection dropped. */
  | 'reconnect-failed'
  /** None of the requested transports exists in this environment. */
  | 'unsupported';

export interface RealtimeErrorOptions {
  cause?: unknown;
  /** The message concerned, for errors about one `send()`, so nothing is lost silently. */
  data?: unknown;
  /** The close code, for errors caused by a close. */
  closeCode?: number;
}

export class RealtimeError extends Error {
  override readonly name = 'RealtimeError';
  // Declared only: the constructor defines them, so the build emits no field initializers too.
  declare readonly code: ErrorCode;
  declare readonly data: unknown;
  declare readonly closeCode: number | undefined;
  declare readonly cause: unknown;

  constructor(code: ErrorCode, message: string, options: RealtimeErrorOptions = {}) {
    super(message);
    this.code = code;
    this.data = options.data;
    this.closeCode = options.closeCode;
    this.cause = options.cause;
  }
}
