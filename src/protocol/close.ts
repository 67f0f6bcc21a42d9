/**
 * Close codes and the one rule deciding whether a close allows another attempt
 * (docs/protocol.md §11), shared by the client and the reference server.
 */

/**
 * Close codes. 1000 and 4000–4499 mean "do not reconnect", except the three
 * retryable 44xx codes named in {@link isRetryableClose}; every other code means "reconnect".
 */
export const CloseCode = {
  /** Deliberate close by either side. Do not reconnect. */
  NORMAL: 1000,
  /** Server shutting down or restarting. Reconnect. */
  GOING_AWAY: 1001,
  /** Connection lost without a close frame (browser-reported). Reconnect. */
  ABNORMAL: 1006,
  /** A frame the peer could not parse or that broke the protocol. Do not reconnect. */
  PROTOCOL_ERROR: 4400,
  /** Token missing, expired or refused. Reconnect after asking `auth` for a fresh token (bounded). */
  UNAUTHORIZED: 4401,
  /** Origin not allowed, or the application refused the client. Do not reconnect. */
  FORBIDDEN: 4403,
  /** No protocol version in common. Do not reconnect. */
  UNSUPPORTED_VERSION: 4406,
  /** Heartbeat deadline missed (either side). Reconnect. */
  TIMEOUT: 4408,
  /** A frame larger than the peer's maximum. Do not reconnect. */
  TOO_LARGE: 4413,
  /** Too many sessions or requests. Reconnect, with backoff. */
  RATE_LIMITED: 4429,
  /** Server-side failure. Reconnect. */
  SERVER_ERROR: 4500,
  /** Client only: leaving this connection (for a better transport, or a page entering the back/forward cache); keep the session. */
  SWITCHING: 4000,
} as const;

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/** The one rule deciding whether a close code allows another attempt. */
export function isRetryableClose(code: number): boolean {
  if (code === CloseCode.UNAUTHORIZED || code === CloseCode.TIMEOUT || code === CloseCode.RATE_LIMITED) return true;
  return !(code === CloseCode.NORMAL || (code >= 4000 && code < 4500));
}
