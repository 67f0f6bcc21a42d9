import type { Env } from '../env';
import { CloseCode } from '../../protocol';
import { toUrl, type CloseReason, type Connection, type TransportHandlers } from './types';

/**
 * Ends an HTTP link's work with a close reason: thrown from the link's async steps (a refused
 * status, a wrong content type, a frame past the limit) and turned into onClose by {@link ender}.
 */
export class LinkClosed extends Error {
  constructor(readonly closed: CloseReason) {
    super(closed.reason);
  }
}

/** The transport's URL with extra query parameters, in the http(s) scheme. */
export function httpUrl(url: string, env: Env, params: Record<string, string | number> = {}): string {
  const u = new URL(toUrl(url, env, 'https:', 'http:'));
  for (const k in params) u.searchParams.set(k, String(params[k]));
  return u.href;
}

/** Whether fetch() can stream here: what fetch-stream and long-poll need. */
export const canStream = (env: Env): boolean =>
  typeof env.fetch === 'function' && typeof AbortController === 'function' && typeof TextDecoder === 'function';

/** The link id from the first frame a v1 server sends on every HTTP link, or undefined. */
export function linkId(text: string): string | undefined {
  try {
    const f = JSON.parse(text) as { t?: unknown; id?: unknown } | null;
    if (f?.t === 'link' && typeof f.id === 'string') return f.id;
  } catch {}
}

/**
 * Maps an HTTP status to the close code the client's retry rule understands. 403 counts as a
 * refused token, not as "never reconnect": over HTTP it may be a token without the right, which
 * a fresh one from `auth` can fix, and it stays bounded by the auth-failure limit.
 */
const statusCode = (status: number): number =>
  ({ 401: CloseCode.UNAUTHORIZED, 403: CloseCode.UNAUTHORIZED, 413: CloseCode.TOO_LARGE, 429: CloseCode.RATE_LIMITED })[
    status
  ] ?? (status >= 500 ? CloseCode.SERVER_ERROR : CloseCode.ABNORMAL);

/** Why a response that is not 2xx ends the link, with the server's Retry-After when it sent one. */
export function httpFailure(res: Response): CloseReason {
  const h = res.headers.get('retry-after');
  // Retry-After is either delay-seconds or an HTTP date.
  const ms = h == null ? NaN : /^\d+$/.test(h) ? +h * 1000 : Date.parse(h) - Date.now();
  return { code: statusCode(res.status), reason: `HTTP ${res.status}`, retryAfter: ms >= 0 ? ms : undefined };
}

/**
 * Why a GET of `url` fails: for an EventSource that failed before its first event, since
 * EventSource hides the status. Asked only after the failure, so it costs nothing when all is
 * well. The reason carries the status and the start of the server's answer ("HTTP 403 origin not
 * allowed"); a 2xx answer is cancelled at once, and then the failure stays unexplained.
 */
export async function explainFailure(url: string, env: Env, signal: AbortSignal): Promise<CloseReason> {
  try {
    const res = await env.fetch!(url, { headers: { Accept: 'text/event-stream' }, signal });
    if (res.ok) {
      void res.body?.cancel().catch(() => {});
      return ended('EventSource failed');
    }
    const failure = httpFailure(res);
    const said = (await res.text()).trim().slice(0, 200);
    return said ? { ...failure, reason: `${failure.reason} ${said}` } : failure;
  } catch {
    return ended('EventSource failed: the server could not be reached');
  }
}

/** The response, when it is 2xx with a content type matching `type`; else throws {@link LinkClosed}. */
export function check(res: Response, type: RegExp): Response {
  if (!res.ok) throw new LinkClosed(httpFailure(res));
  const t = res.headers.get('content-type') ?? '';
  if (!type.test(t)) throw new LinkClosed({ code: CloseCode.ABNORMAL, reason: `content type ${t}` });
  return res;
}

/** The link ended by itself: a stream or an EventSource that is over. */
export const ended = (reason: string): CloseReason => ({ code: CloseCode.ABNORMAL, reason });

/**
 * Reports the end of a connection once, whatever ends it first: a failed request, the stream
 * ending, or an abort. After `close()` from the client it reports nothing.
 */
export function ender(h: TransportHandlers, cleanup: () => void) {
  let over = false;
  // Arrow functions: transports pass these on as callbacks, unbound.
  const end = {
    /** Ends the connection with `closed`. */
    close: (closed: CloseReason): void => {
      if (over) return;
      over = true;
      cleanup();
      h.onClose(closed.code, closed.reason, closed.retryAfter);
    },
    /** Ends the connection after a failure: a {@link LinkClosed} says why; anything else (a network error) is a 1006. */
    fail: (e: unknown): void => {
      if (e instanceof LinkClosed) return end.close(e.closed);
      // A rejected fetch() (TypeError 'fetch failed', an AbortError) or anything else thrown on the way.
      end.close(ended(typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e)));
    },
    /** The client closed: stop quietly. */
    quiet: (): void => {
      over = true;
      cleanup();
    },
    get over() {
      return over;
    },
  };
  return end;
}

/**
 * Calls `feed` with each piece of a response body as text, until the body ends; `ascii` says that
 * every byte so far was ASCII (each piece decoded to as many characters as it had bytes), so a
 * text's size in UTF-8 is its length.
 */
export async function read(res: Response, feed: (text: string, ascii: boolean) => void): Promise<void> {
  const reader = res.body?.getReader();
  const decoder = new TextDecoder();
  let ascii = true;
  for (let r; reader && !(r = await reader.read()).done;) {
    const text = decoder.decode(r.value, { stream: true });
    // One character per byte, none of them a replacement for an invalid byte: each byte was ASCII.
    ascii &&= text.length === r.value.length && !text.includes('\ufffd');
    feed(text, ascii);
  }
}

/** WebSocket's close code for a message too big to take (RFC 6455 §7.4.1); the protocol allows another attempt. */
const MESSAGE_TOO_BIG = 1009;

/**
 * A frame still arriving that is already longer than `max` characters (so more than `max` bytes)
 * goes to `frame` as it is, which the client refuses as too large, and reading stops: a server
 * that never ends a frame cannot make us hold more.
 */
export function cut(held: string, max: number, frame: (text: string) => void): void {
  if (held.length > max) {
    frame(held);
    // The client has usually closed already; if not, WebSocket's "message too big", which is retryable.
    throw new LinkClosed({ code: MESSAGE_TOO_BIG, reason: 'frame over maxFrameSize' });
  }
}

/**
 * A feed for {@link read} that hands each non-blank \n-ended line to `line` (with its size in
 * UTF-8 when the body was ASCII so far), holding at most `max` characters of an unfinished one.
 */
export function lines(
  max: number,
  line: (text: string, bytes?: number) => void,
): (text: string, ascii?: boolean) => void {
  let pending = '';
  return (text, ascii) => {
    // Only the new text is searched: a 1 MB line arriving in 16 KB pieces, searched again with
    // each one, cost 64 passes over it (30 MB of such lines: 1.5 s instead of 0.1 s in Node).
    let start = 0;
    for (let end; (end = text.indexOf('\n', start)) >= 0; start = end + 1) {
      const l = pending + text.slice(start, end);
      pending = '';
      if (l.trim()) line(l, ascii ? l.length : undefined);
    }
    pending += text.slice(start);
    cut(pending, max, line);
  };
}

export const TEXT = { 'Content-Type': 'text/plain;charset=UTF-8' };

/**
 * Client → server frames for one link: POSTed in order, one request at a time, each carrying
 * every frame queued meanwhile, so a backlog costs few requests. text/plain keeps a POST a CORS
 * simple request, with no preflight.
 *
 * `token` goes as `Authorization: Bearer` on the first POST only, the one carrying hello: the
 * server authenticates a link at its hello and knows the later POSTs by the link's unguessable
 * id. So a token is sent once and never again after it may have expired, and only that POST
 * costs a preflight.
 */
export function poster(url: string, env: Env, fail: (e: unknown) => void, signal?: AbortSignal, token?: string) {
  const queue: string[] = [];
  let bytes = 0;
  let busy = false;
  const pump = async (): Promise<void> => {
    if (busy || !queue.length) return;
    busy = true;
    // Servers take a POST of up to 4 frames' worth (docs/protocol.md §14.3), and each frame is at
    // most `max`: 3 frames per request always fit, however large the backlog.
    const frames = queue.splice(0, 3);
    const body = frames.join('\n');
    const auth = token;
    token = '';
    try {
      // fetch() refuses other header values with a message quoting them, token included. Rejected,
      // not thrown, so the failure is reported later, never from inside send().
      const res = await (auth && !/^[!-~]+$/.test(auth)
        ? Promise.reject(new LinkClosed({ code: CloseCode.UNAUTHORIZED, reason: 'token not printable ASCII' }))
        : env.fetch!(url, {
            method: 'POST',
            headers: auth ? { ...TEXT, Authorization: 'Bearer ' + auth } : TEXT,
            body,
            signal,
          }));
      if (!res.ok) throw new LinkClosed(httpFailure(res));
      // Counted until the server took them, as WebSocket's bufferedAmount counts what is not yet
      // sent: a server that reads slowly makes the client batch behind the backlog.
      for (const f of frames) bytes -= f.length;
      busy = false;
      return pump();
    } catch (e) {
      fail(e);
    }
  };
  return {
    push(text: string): void {
      queue.push(text);
      bytes += text.length;
      void pump();
    },
    /** Bytes of the frames queued or in a POST not yet answered. */
    get buffered(): number {
      return bytes;
    },
    /** Tells the server this link is over; keepalive lets it leave with a closing page. */
    close(code: number, reason: string): void {
      env.fetch!(url, {
        method: 'POST',
        headers: TEXT,
        body: JSON.stringify({ t: 'close', code, reason }),
        keepalive: true,
      }).catch(() => {});
    },
  };
}

export type Poster = ReturnType<typeof poster>;

/**
 * The connection of a v1 link whose frames to the server all go as POSTs (sse, fetch-stream):
 * `link()` is the link's poster once its link frame came. Closing tells the server the link is over.
 */
export function linkConnection(link: () => Poster | undefined, end: { quiet(): void }): Connection {
  return {
    send: (text) => link()!.push(text),
    close(code, reason) {
      link()?.close(code, reason);
      end.quiet();
    },
    get buffered() {
      return link()?.buffered ?? 0;
    },
  };
}
