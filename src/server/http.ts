import { randomBytes } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { CloseCode, utf8Length, type TransportName } from '../protocol';
import type { Connection, Link } from './link';
import { BODY_LIMIT_FACTOR, BodyBudget, deliver, MAX_FRAMES_PER_POST } from './body';
import type { ResolvedOptions } from './options';

/**
 * The three HTTP transports (docs/protocol.md §14). A "link" is one HTTP-carried connection and
 * plays the part of one WebSocket: frames to the client travel on a stream (SSE framing, for both
 * `sse` and `fetch-stream`) or in long-poll responses; frames from the client arrive in POSTs
 * naming the link. Everything above the link (handshake, session, acks, heartbeat) is shared
 * with WebSocket through {@link Link}.
 */

/** What the HTTP adapter needs from the server. */
export interface HttpHost {
  readonly options: ResolvedOptions;
  /** True once close() was called. */
  readonly shuttingDown: boolean;
  accept(conn: Connection, request: IncomingMessage, ip: string): Link;
  /** Whether `ip` has as many connections waiting for hello as it may (any transport). */
  tooManyWaiting(ip: string): boolean;
  /** The client address used for per-address limits. */
  clientIp(request: IncomingMessage): string;
  originAllowed(origin: string | undefined): boolean;
  reportError(error: unknown, context: string): void;
}

/** A long-poll link with no poll for `pollTimeout` + this many ms is dropped. */
export const POLL_GRACE_MS = 10_000;
/** Retry-After (seconds) while shutting down. */
const SHUTDOWN_RETRY_AFTER_S = 5;
/** Retry-After (seconds) for a body shed to keep request bodies within maxTotalBodyBytes. */
const SHED_RETRY_AFTER_S = 1;

const HTTP_TRANSPORTS: readonly TransportName[] = ['sse', 'fetch-stream', 'long-poll'];
const ALL_TRANSPORTS: readonly string[] = ['websocket', ...HTTP_TRANSPORTS];

const STREAM_HEADERS: OutgoingHttpHeaders = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
  Connection: 'keep-alive',
};
const NDJSON = 'application/x-ndjson; charset=utf-8';

const newLinkId = (): string => randomBytes(18).toString('base64url'); // 144 bits

/** A short text/plain answer; the body is the reason. */
function reply(res: ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = text ? text + '\n' : '';
  res.writeHead(status, {
    ...headers,
    ...(body ? { 'Content-Type': 'text/plain; charset=utf-8' } : {}),
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** 503 while the server shuts down: the client reconnects later (like 1001). */
function replyShuttingDown(res: ServerResponse): void {
  reply(res, 503, 'server shutting down', { 'Retry-After': String(SHUTDOWN_RETRY_AFTER_S) });
}

/** Refuses a body without reading the rest of it: the connection closes rather than drain it. */
function refuseBody(req: IncomingMessage, res: ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  if (res.headersSent) return void req.destroy();
  reply(res, status, text, { ...headers, Connection: 'close' });
}

/** The token of an `Authorization: Bearer` header, or undefined. */
function bearer(req: IncomingMessage): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
}

/** State shared by both kinds of link. */
abstract class HttpLink implements Connection {
  readonly id = newLinkId();
  link!: Link;
  /** False once the adapter forgot the link: later requests naming it get 404. */
  registered = true;
  /** POST bodies are processed one after another, in the order the requests arrived. */
  chain: Promise<void> = Promise.resolve();
  /** A plain POST / a poll whose body is being read or processed: at most one of each at a time. */
  posting = false;
  polling = false;

  constructor(protected readonly adapter: HttpTransports) {}

  abstract send(text: string, lastSeq?: number): void;
  abstract close(code: number, reason: string, announced: boolean): void;
  abstract terminate(): void;
  abstract get bufferedAmount(): number;
  /** Server shutdown, after the close frames went out: release everything. */
  abstract shutdown(): void;

  /** A request for this link arrived: a sign of life for the heartbeat deadline. */
  touch(): void {
    if (!this.link.done) this.link.lastReceived = Date.now();
  }

  protected forget(): void {
    if (!this.registered) return;
    this.registered = false;
    this.adapter.forget(this);
  }
}

/** `sse` and `fetch-stream`: one long response in text/event-stream framing. */
class StreamLink extends HttpLink {
  private ended = false;
  private lastWrite = Date.now();
  private heartbeatTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    adapter: HttpTransports,
    private readonly res: ServerResponse,
    private readonly every: number,
  ) {
    super(adapter);
  }

  start(): void {
    const res = this.res;
    res.on('close', () => {
      if (this.ended) return;
      // The client went away (aborted the request, network failure): a link drop, the session stays resumable.
      this.end();
      this.link.transportClosed();
    });
    res.socket?.setNoDelay(true);
    // The comment is the first byte at once, so a client can tell a buffering proxy from a quiet link.
    this.write(':ok\n\n');
    this.write(`data: {"t":"link","id":"${this.id}"}\n\n`);
    this.armHeartbeat();
  }

  send(text: string, lastSeq?: number): void {
    if (!this.ended) this.write(lastSeq === undefined ? `data: ${text}\n\n` : `id: ${lastSeq}\ndata: ${text}\n\n`);
  }

  close(): void {
    if (this.ended) return;
    this.end();
    this.res.end();
  }

  terminate(): void {
    if (this.ended) return;
    this.end();
    this.res.destroy();
  }

  get bufferedAmount(): number {
    return this.ended ? 0 : this.res.writableLength;
  }

  shutdown(): void {
    this.close();
  }

  private write(chunk: string): void {
    if (this.res.destroyed || this.res.writableEnded) return;
    this.lastWrite = Date.now();
    this.res.write(chunk);
  }

  private end(): void {
    this.ended = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.forget();
  }

  /** A `:` comment after `every` ms without writing anything, so proxies do not cut an idle stream. */
  private armHeartbeat(): void {
    this.heartbeatTimer = setTimeout(
      () => {
        this.heartbeatTimer = null;
        if (this.ended) return;
        if (Date.now() - this.lastWrite >= this.every) this.write(':\n\n');
        this.armHeartbeat();
      },
      Math.max(0, this.lastWrite + this.every - Date.now()) + 1,
    );
    this.heartbeatTimer.unref?.();
  }
}

interface Poll {
  res: ServerResponse;
  wait: number;
  /** The body was processed; the poll waits for frames. */
  held: boolean;
  answered: boolean;
  timer: ReturnType<typeof setTimeout> | null;
}

/** `long-poll`: frames queue in the link and leave in the answer to the next (held) poll. */
class PollLink extends HttpLink {
  private queue: string[] = [];
  private queuedBytes = 0;
  /** The latest poll, while unanswered. */
  private poll: Poll | null = null;
  /** The server closed the link: deliver what is queued (the close frame) to the next poll, then forget it. */
  closing = false;
  private dropTimer: ReturnType<typeof setTimeout> | null = null;
  private answerQueued: ReturnType<typeof setImmediate> | null = null;

  constructor(
    adapter: HttpTransports,
    private readonly pollTimeout: number,
  ) {
    super(adapter);
    this.armDrop();
  }

  send(text: string): void {
    if (!this.registered || this.closing) return;
    this.queue.push(text);
    this.queuedBytes += utf8Length(text);
    if (this.poll?.held) this.answerSoon();
  }

  close(_code: number, _reason: string, announced: boolean): void {
    if (!this.registered || this.closing) return;
    this.closing = true;
    if (this.poll?.held) this.answer(this.poll);
    // Replaced by a resume, or left by the client: nobody will poll for what is queued, so
    // release the link now (a poll still arriving gets 404), not when the drop timer runs out.
    else if (!announced || (!this.poll && this.queue.length === 0)) this.forget();
    // else: the pending poll, or the next one, carries the close frame.
  }

  terminate(): void {
    const poll = this.poll;
    this.forget();
    poll?.res.destroy();
  }

  get bufferedAmount(): number {
    return this.queuedBytes;
  }

  shutdown(): void {
    if (this.poll) this.answer(this.poll);
    this.forget();
  }

  /** A poll request arrived (its body is still to be processed). */
  begin(res: ServerResponse, wait: number): Poll {
    if (this.dropTimer) clearTimeout(this.dropTimer);
    this.dropTimer = null;
    // A new poll answers the previous one at once with whatever is queued, and takes over.
    if (this.poll) this.answer(this.poll);
    const poll: Poll = { res, wait, held: false, answered: false, timer: null };
    this.poll = poll;
    res.on('close', () => {
      if (poll.answered) return;
      // Aborted by the client: the queue stays for the next poll.
      poll.answered = true;
      if (poll.timer) clearTimeout(poll.timer);
      if (this.poll === poll) {
        this.poll = null;
        if (this.registered) this.armDrop();
      }
    });
    return poll;
  }

  /** The poll's body was processed: answer now, soon, or hold it. */
  hold(poll: Poll): void {
    if (poll.answered) return;
    if (this.closing || !this.registered) return this.answer(poll);
    poll.held = true;
    if (this.queue.length > 0) return this.answerSoon();
    if (poll.wait === 0) return this.answer(poll);
    poll.timer = setTimeout(() => this.answer(poll), Math.min(poll.wait, this.pollTimeout));
    poll.timer.unref?.();
  }

  /**
   * Answer after the current turn of the event loop, so frames written together (welcome and
   * the replay after it, a batch of acks and messages) leave in one response.
   */
  private answerSoon(): void {
    if (this.answerQueued) return;
    this.answerQueued = setImmediate(() => {
      this.answerQueued = null;
      if (this.poll?.held) this.answer(this.poll);
    });
  }

  private answer(poll: Poll): void {
    if (poll.answered) return;
    poll.answered = true;
    if (poll.timer) clearTimeout(poll.timer);
    if (this.poll === poll) this.poll = null;
    const body = this.queue.length ? this.queue.join('\n') + '\n' : '';
    this.queue = [];
    this.queuedBytes = 0;
    const { res } = poll;
    if (!res.destroyed && !res.headersSent) {
      res.writeHead(200, { 'Content-Type': NDJSON, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    }
    if (this.closing) this.forget();
    else if (!this.poll && this.registered) this.armDrop();
  }

  /** No poll for `pollTimeout` + grace: the client is gone, a link drop (the session stays resumable). */
  private armDrop(): void {
    if (this.dropTimer) clearTimeout(this.dropTimer);
    this.dropTimer = setTimeout(() => {
      this.dropTimer = null;
      this.forget();
      this.link.transportClosed();
    }, this.pollTimeout + POLL_GRACE_MS);
    this.dropTimer.unref?.();
  }

  protected override forget(): void {
    if (this.dropTimer) clearTimeout(this.dropTimer);
    if (this.answerQueued) clearImmediate(this.answerQueued);
    this.dropTimer = this.answerQueued = null;
    if (this.poll?.timer) clearTimeout(this.poll.timer);
    super.forget();
  }
}

/**
 * The HTTP side of a RealtimeServer: routes requests on its path, creates links, and keeps them
 * by id for the POSTs that name them.
 */
export class HttpTransports {
  private readonly links = new Map<string, HttpLink>();
  /** Request bodies held, all links together (`maxTotalBodyBytes`). */
  private readonly bodies: BodyBudget;
  /** Every response on our path not yet closed, so shutdown can wait for (or cut) them. */
  private readonly open = new Set<ServerResponse>();

  constructor(private readonly host: HttpHost) {
    this.bodies = new BodyBudget(host.options.maxTotalBodyBytes);
  }

  /** Handle one request on our path. Never throws. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    this.open.add(res);
    res.once('close', () => this.open.delete(res));
    req.on('error', () => {});
    res.on('error', () => {});
    try {
      this.route(req, res, url);
    } catch (err) {
      this.host.reportError(err, 'HTTP request');
      reply(res, 500, 'internal error');
    }
  }

  /** @internal Called by a link that is over. */
  forget(l: HttpLink): void {
    this.links.delete(l.id);
  }

  /**
   * After the server closed every link (close frames queued or written): release the rest and
   * wait for the responses still open, cutting them after `graceMs`.
   */
  shutdown(graceMs: number): Promise<void> {
    for (const l of [...this.links.values()]) l.shutdown();
    const pending = [...this.open];
    if (pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      let left = pending.length;
      const timer = setTimeout(() => {
        // Not closed by now (a stalled socket, or a body still arriving): cut it.
        for (const res of pending) if (!res.closed) res.destroy();
      }, graceMs);
      for (const res of pending) {
        const done = (): void => {
          if (--left === 0) {
            clearTimeout(timer);
            resolve();
          }
        };
        if (res.closed) done();
        else res.once('close', done);
      }
    });
  }

  private route(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'POST' && method !== 'OPTIONS') {
      return reply(res, 405, 'method not allowed', { Allow: 'GET, POST, OPTIONS' });
    }
    const origin = req.headers.origin;
    // Browsers always send Origin cross-origin; same-origin GETs come without one, and a
    // non-browser client could forge it anyway. So over HTTP a missing Origin is allowed.
    if (origin !== undefined) {
      res.setHeader('Vary', 'Origin');
      // Even the refusal carries Allow-Origin, so a browser client can read the 403 (and stop
      // after a few tries) instead of seeing a network error (and retrying forever). The body
      // tells nothing more.
      res.setHeader('Access-Control-Allow-Origin', origin);
      if (!this.host.originAllowed(origin)) return reply(res, 403, 'origin not allowed');
    }
    if (method === 'OPTIONS') {
      return reply(res, 204, '', {
        'Access-Control-Allow-Methods': 'GET, POST',
        'Access-Control-Allow-Headers': 'Content-Type, Authorization, Last-Event-ID',
        'Access-Control-Max-Age': '600',
      });
    }
    if (this.host.shuttingDown) return replyShuttingDown(res);
    const q = url.searchParams;
    if (method === 'GET') return this.openLink(req, res, q.get('transport'));
    const id = q.get('link');
    if (!id) return reply(res, 400, 'missing link');
    const waitParam = q.get('wait');
    let wait: number | undefined;
    if (waitParam !== null) {
      wait = /^\d{1,15}$/.test(waitParam) ? Number(waitParam) : NaN;
      if (Number.isNaN(wait)) return reply(res, 400, 'bad wait');
    }
    const l = this.links.get(id);
    if (!l) return reply(res, 404, 'unknown link');
    if (wait !== undefined && !(l instanceof PollLink)) return reply(res, 400, 'wait is for long-poll links only');
    this.post(req, res, l, wait);
  }

  private openLink(req: IncomingMessage, res: ServerResponse, transport: string | null): void {
    if (transport === null || !ALL_TRANSPORTS.includes(transport)) return reply(res, 400, 'unknown transport');
    if (!this.host.options.transports.includes(transport as TransportName)) return reply(res, 400, 'transport not offered');
    if (transport === 'websocket') return reply(res, 400, 'websocket needs an Upgrade request');
    const o = this.host.options;
    // Links still waiting for their hello cost memory and a timer; bound them per address.
    // (The session limit itself applies at hello, as on WebSocket: close 4429. Only then does
    // the server know whether the link resumes a session the address already has.)
    // The count is shared with WebSocket connections (close 4429 there).
    const ip = this.host.clientIp(req);
    if (this.host.tooManyWaiting(ip)) {
      const retry = Math.ceil(o.handshakeTimeout / 1000);
      return reply(res, 429, 'too many links waiting for hello from this address', { 'Retry-After': String(retry) });
    }
    const l = transport === 'long-poll' ? new PollLink(this, o.pollTimeout) : new StreamLink(this, res, o.streamHeartbeat);
    l.link = this.host.accept(l, req, ip);
    this.links.set(l.id, l);
    if (l instanceof StreamLink) {
      res.writeHead(200, STREAM_HEADERS);
      l.start();
    } else {
      const body = `{"t":"link","id":"${l.id}"}\n`;
      res.writeHead(200, { 'Content-Type': NDJSON, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    }
  }

  /** Frames for a link, and for long-poll links with `wait`, a poll. */
  private post(req: IncomingMessage, res: ServerResponse, l: HttpLink, wait: number | undefined): void {
    // Bodies are buffered until processed: one plain POST and one poll at a time per link bound
    // that memory (the client never sends more), whatever the number of concurrent requests.
    const isPoll = wait !== undefined;
    if (isPoll ? l.polling : l.posting) {
      return reply(res, 429, `a ${isPoll ? 'poll' : 'POST'} for this link is already in progress`, { Connection: 'close' });
    }
    if (isPoll) l.polling = true;
    else l.posting = true;
    l.touch();
    const poll = isPoll && l instanceof PollLink ? l.begin(res, wait) : null;
    const { maxMessageBytes, requestTimeout } = this.host.options;
    const limit = maxMessageBytes * BODY_LIMIT_FACTOR;
    const body = this.bodies.read(req, limit, requestTimeout);
    const free = (): void => {
      if (isPoll) l.polling = false;
      else l.posting = false;
    };
    // A refused body is answered at once, not in its turn: an earlier body on the link may still
    // be trickling in, and none of this one's frames will be handled anyway. The link closes,
    // since the client's frames now have a hole; the session stays resumable but for 413.
    const ready = body.outcome.then((got) => {
      if (Buffer.isBuffer(got)) return got;
      free();
      try {
        if (got === 'too-large') {
          l.link.fail(CloseCode.TOO_LARGE, `request body exceeds ${limit} bytes`);
          refuseBody(req, res, 413, 'request body too large');
        } else if (got === 'timeout') {
          l.link.fail(CloseCode.TIMEOUT, `request body not received within ${requestTimeout} ms`);
          refuseBody(req, res, 408, `request body not received within ${requestTimeout} ms`);
        } else if (got === 'shed') {
          l.link.fail(CloseCode.RATE_LIMITED, 'server busy: too many request bytes in flight');
          refuseBody(req, res, 429, 'server busy: too many request bytes in flight', { 'Retry-After': String(SHED_RETRY_AFTER_S) });
        }
      } catch (err) {
        this.host.reportError(err, 'HTTP link');
        reply(res, 500, 'internal error');
      }
      return null; // or aborted by the client: nothing to answer
    });
    l.chain = l.chain.then(async () => {
      const got = await ready;
      if (!got) return;
      free();
      try {
        // A poll's frames count even if a newer poll already answered it; a closing link
        // (done, still registered) answers the poll with its close frame.
        const usable = l.registered && (poll !== null || !l.link.done);
        if (!usable) {
          if (poll?.answered) return;
          return this.host.shuttingDown ? replyShuttingDown(res) : reply(res, 404, 'link ended');
        }
        if ((await deliver(l.link, got, bearer(req))) === 'too-many-frames') {
          return refuseBody(req, res, 413, `more than ${MAX_FRAMES_PER_POST} frames in one request`);
        }
        if (poll) (l as PollLink).hold(poll);
        else reply(res, 204, '');
      } catch (err) {
        this.host.reportError(err, 'HTTP link');
        reply(res, 500, 'internal error');
      } finally {
        body.release();
      }
    });
  }
}
