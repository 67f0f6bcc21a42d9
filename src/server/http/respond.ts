import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

export const NDJSON = 'application/x-ndjson; charset=utf-8';

/** When an answer goes out: at once, or after the rest of a refused body (see drainThen). */
export type AnswerTiming = 'now' | 'after-body';

/**
 * Where the answer to a POST goes: the HTTP response, or (with a cluster) the process that
 * received the request for a link this process holds, and relayed it here.
 */
export interface Responder {
  /** An answer went out, or the client went away: nothing more can be sent. */
  readonly done: boolean;
  /**
   * The whole answer; `'after-body'` sends it once the rest of the request's body has arrived
   * and been dropped (bounded, see drainThen): for a body refused for its size.
   */
  answer(status: number, headers: OutgoingHttpHeaders, body: string, when?: AnswerTiming): void;
  /** Cuts the request (its body is not read any further): the connection closes. */
  cut(): void;
  /** `fn` runs once when the request is over: answered (by anyone), or its client gone. */
  onClose(fn: () => void): void;
}

/** Answers decided before their request's body was all read, waiting for it to be dropped (see drainThen). */
const draining = new WeakSet<ServerResponse>();

/** The Responder of a request answered by this process. */
export function responderFor(res: ServerResponse): Responder {
  return {
    get done() {
      return res.headersSent || res.destroyed || draining.has(res);
    },
    answer(status, headers, body, when = 'now') {
      const send = (): void => {
        res.writeHead(status, headers);
        res.end(body);
      };
      if (when === 'now' || res.req.complete) return send();
      draining.add(res);
      drainThen(res, send);
    },
    cut: () => void res.destroy(),
    onClose: (fn) => void res.once('close', fn),
  };
}

/** A short text/plain answer; the body is the reason. */
export function reply(
  to: Responder | ServerResponse,
  status: number,
  text: string,
  headers: OutgoingHttpHeaders = {},
  when: AnswerTiming = 'now',
): void {
  const r = 'answer' in to ? to : responderFor(to);
  if (r.done) return r.cut();
  const body = text ? text + '\n' : '';
  r.answer(
    status,
    {
      ...headers,
      ...(body ? { 'Content-Type': 'text/plain; charset=utf-8' } : {}),
      'Cache-Control': 'no-store',
      'Content-Length': Buffer.byteLength(body),
    },
    body,
    when,
  );
}

/**
 * An answer decided before the request's body was all read (a body too large) waits until the
 * rest of the body has arrived and been dropped, for at most LINGER_MS and LINGER_BYTES (a larger
 * declared Content-Length is not waited for); past either it goes out at once and the connection
 * is closed as soon as it is written. Answering at once and closing leaves unread data in the
 * socket, which makes the kernel reset the connection: a client still uploading then sees a write
 * error (EPIPE, ECONNRESET) instead of the 413 it was sent. (nginx's lingering close exists for
 * the same reason.)
 */
const LINGER_MS = 2000;
const LINGER_BYTES = 16 * 1024 * 1024; // 4 × the default body limit (maxMessageBytes × 4)

function drainThen(res: ServerResponse, send: () => void): void {
  const req = res.req;
  let bytes = 0;
  let sent = false;
  const sendOnce = (): void => {
    if (sent) return;
    sent = true;
    clearTimeout(timer);
    send();
  };
  // Past the bounds: answer, and close rather than keep reading (Node would wait for the body).
  const giveUp = (): void => {
    if (sent) return;
    res.once('finish', () => req.socket.destroy());
    sendOnce();
  };
  const timer = setTimeout(giveUp, LINGER_MS);
  timer.unref();
  if (Number(req.headers['content-length']) > LINGER_BYTES) return giveUp();
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > LINGER_BYTES) giveUp();
  });
  req.once('end', sendOnce);
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

/**
 * Refuses a body without handling it; the connection closes after the answer. A body refused for
 * its size (413) is still arriving at full speed: its answer waits for the rest to be dropped
 * (bounded, see drainThen). One refused for slowness (408) or load (429) is answered at once.
 */
export function refuseBody(to: Responder, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  if (to.done) return to.cut();
  reply(to, status, text, { ...headers, Connection: 'close' }, status === 413 ? 'after-body' : 'now');
}

/** The token of an `Authorization: Bearer` header, or undefined. */
export function bearer(req: IncomingMessage): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
}
