import type { IncomingMessage, ServerResponse } from 'node:http';
import { CloseCode, type TransportName } from '../../protocol';
import { SHUTTING_DOWN, type Admission, type Refusal } from '../admission';
import type { Connection, Link } from '../link';
import type { ResolvedOptions } from '../options';
import type { LinkDirectory } from '../state/types';
import { BODY_LIMIT_FACTOR, BodyBudget, deliver, MAX_FRAMES_PER_POST, type BodyOutcome } from './body';
import type { HttpLink, HttpLinkKind } from './link';
import { pollLinks } from './poll';
import { Relay, type RelayHost } from './relay';
import { bearer, refuseBody, reply, responderFor, type Responder } from './respond';
import { streamLinks } from './stream';

/**
 * The HTTP transports (docs/protocol.md §14): routes the requests on the server's path, opens
 * links of the kind each transport names, and hands the client's POSTs to the link they name.
 * Everything above a link (handshake, session, acks, heartbeat) is shared with WebSocket
 * through {@link Link}.
 */

/** What the HTTP transports need from the server. */
export interface HttpHost {
  readonly options: ResolvedOptions;
  readonly admission: Admission;
  readonly shuttingDown: boolean;
  /** The protocol side of a new connection (it counts as waiting for hello). */
  accept(conn: Connection, request: IncomingMessage, ip: string): Link;
  reportError(error: unknown, context: string): void;
  /** With a cluster: where the links of every process are. */
  readonly links: LinkDirectory | undefined;
}

/** The kind of link each HTTP transport opens. */
const KINDS: Record<Exclude<TransportName, 'websocket'>, HttpLinkKind> = {
  sse: streamLinks,
  'fetch-stream': streamLinks,
  'long-poll': pollLinks,
};

/** Retry-After (seconds) for a body shed to keep request bodies within maxTotalBodyBytes. */
const SHED_RETRY_AFTER_S = 1;

function refuse(to: Responder | ServerResponse, r: Refusal): void {
  reply(to, r.status, r.reason, r.retryAfter === undefined ? {} : { 'Retry-After': String(r.retryAfter) });
}

export class HttpTransports implements RelayHost {
  private readonly links = new Map<string, HttpLink>();
  /** Request bodies held, all links together (`maxTotalBodyBytes`). */
  readonly bodies: BodyBudget;
  /** Every response on our path not yet closed, so shutdown can wait for (or cut) them. */
  private readonly open = new Set<ServerResponse>();
  /** With a cluster: requests for links other processes hold go to them. */
  private readonly relay: Relay | undefined;
  private readonly forget = (l: HttpLink): void => {
    this.links.delete(l.id);
    this.host.links?.unregister(l.id);
  };

  constructor(private readonly host: HttpHost) {
    this.bodies = new BodyBudget(host.options.maxTotalBodyBytes);
    this.relay = host.links && new Relay(host.links, this);
  }

  get options(): ResolvedOptions {
    return this.host.options;
  }

  reportError(error: unknown, context: string): void {
    this.host.reportError(error, context);
  }

  link(id: string): HttpLink | undefined {
    return this.links.get(id);
  }

  /** A message from another process of the cluster, for the relay. */
  relayed(message: string): void {
    this.relay?.received(message);
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
    if (req.headers.origin !== undefined) {
      // Even a refusal carries Allow-Origin, so a browser client can read its status (and stop
      // after a few 403s) instead of seeing a network error (and retrying forever).
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Allow-Origin', req.headers.origin);
    }
    const q = url.searchParams;
    if (method === 'GET') return this.openLink(req, res, q.get('transport'));
    const verdict = this.host.admission.admit(req, 'request');
    if (!verdict.admitted) return refuse(res, verdict.refusal);
    if (method === 'OPTIONS') {
      return reply(res, 204, '', {
        'Access-Control-Allow-Methods': 'GET, POST',
        'Access-Control-Allow-Headers': 'Content-Type, Authorization, Last-Event-ID',
        'Access-Control-Max-Age': '600',
      });
    }
    const id = q.get('link');
    if (!id) return reply(res, 400, 'missing link');
    const waitParam = q.get('wait');
    let wait: number | undefined;
    if (waitParam !== null) {
      wait = /^\d{1,15}$/.test(waitParam) ? Number(waitParam) : NaN;
      if (Number.isNaN(wait)) return reply(res, 400, 'bad wait');
    }
    const l = this.links.get(id);
    if (!l) {
      if (!this.relay) return reply(res, 404, 'unknown link');
      return void this.relay.forward(req, res, id, wait).catch((err) => {
        this.host.reportError(err, 'relay');
        reply(res, 500, 'internal error');
      });
    }
    if (wait !== undefined && !l.polls) return reply(res, 400, 'wait is for long-poll links only');
    this.post(req, res, l, wait);
  }

  private openLink(req: IncomingMessage, res: ServerResponse, transport: string | null): void {
    if (transport === 'websocket') return reply(res, 400, 'websocket needs an Upgrade request');
    const kind =
      transport !== null && Object.hasOwn(KINDS, transport) ? KINDS[transport as keyof typeof KINDS] : undefined;
    if (!kind) return reply(res, 400, 'unknown transport');
    if (!this.host.options.transports.includes(transport as TransportName))
      return reply(res, 400, 'transport not offered');
    const verdict = this.host.admission.admit(req, 'connect');
    if (!verdict.admitted) return refuse(res, verdict.refusal);
    const l = kind.create(res, this.host.options, this.forget);
    l.link = this.host.accept(l, req, verdict.ip);
    this.links.set(l.id, l);
    const directory = this.host.links;
    if (!directory) return l.start();
    // The link's id goes to the client (in what start() writes) only once the other processes
    // can find the link: the client's next request may reach any of them, and a miss is a 404.
    const abandon = (): void => {
      l.shutdown();
      l.link.transportClosed();
    };
    directory.register(l.id).then(
      () => (res.destroyed ? abandon() : l.start()),
      (err: unknown) => {
        this.host.reportError(err, 'link directory');
        reply(res, 503, 'session store unavailable', { 'Retry-After': '1' });
        abandon();
      },
    );
  }

  /** Frames for a link this process holds, and for long-poll links with `wait`, a poll. */
  private post(req: IncomingMessage, res: ServerResponse, l: HttpLink, wait: number | undefined): void {
    const responder = responderFor(res);
    // Refused before its body is read: bodies are buffered until handled, so at most one plain
    // POST and one poll per link are read at a time.
    if (this.busy(l, wait, responder)) return;
    const body = this.bodies.read(req, this.bodyLimit, this.host.options.requestTimeout);
    this.take(l, responder, wait, bearer(req), body.outcome, body.release);
  }

  /** Whether a POST (or poll) for `l` is already in progress: then this one gets 429. */
  busy(l: HttpLink, wait: number | undefined, responder: Responder): boolean {
    const isPoll = wait !== undefined;
    if (!(isPoll ? l.requests.polling : l.requests.posting)) return false;
    reply(responder, 429, `a ${isPoll ? 'poll' : 'POST'} for this link is already in progress`, {
      Connection: 'close',
    });
    return true;
  }

  get bodyLimit(): number {
    return this.host.options.maxMessageBytes * BODY_LIMIT_FACTOR;
  }

  /**
   * A POST for link `l`, which this process holds: its body (or why there is none), answered
   * through `responder`. Received here, or by another process that relayed it.
   */
  take(
    l: HttpLink,
    responder: Responder,
    wait: number | undefined,
    token: string | undefined,
    outcome: Promise<BodyOutcome>,
    release: () => void,
  ): void {
    const isPoll = wait !== undefined;
    const requests = l.requests;
    if (isPoll) requests.polling = true;
    else requests.posting = true;
    l.link.touch();
    const poll = isPoll ? l.polls!.begin(responder, wait) : null;
    const limit = this.bodyLimit;
    const { requestTimeout } = this.host.options;
    const free = (): void => {
      if (isPoll) requests.polling = false;
      else requests.posting = false;
    };
    // A refused body is answered at once, not in its turn: an earlier body on the link may still
    // be trickling in, and none of this one's frames will be handled anyway. The link closes,
    // since the client's frames now have a hole; the session stays resumable but for 413.
    const ready = outcome.then((got) => {
      if (Buffer.isBuffer(got)) return got;
      free();
      try {
        if (got === 'too-large') {
          l.link.fail(CloseCode.TOO_LARGE, `request body exceeds ${limit} bytes`);
          refuseBody(responder, 413, 'request body too large');
        } else if (got === 'timeout') {
          l.link.fail(CloseCode.TIMEOUT, `request body not received within ${requestTimeout} ms`);
          refuseBody(responder, 408, `request body not received within ${requestTimeout} ms`);
        } else if (got === 'shed') {
          l.link.fail(CloseCode.RATE_LIMITED, 'server busy: too many request bytes in flight');
          refuseBody(responder, 429, 'server busy: too many request bytes in flight', {
            'Retry-After': String(SHED_RETRY_AFTER_S),
          });
        }
      } catch (err) {
        this.host.reportError(err, 'HTTP link');
        reply(responder, 500, 'internal error');
      }
      return null; // or aborted by the client: nothing to answer
    });
    requests.chain = requests.chain.then(async () => {
      const got = await ready;
      if (!got) return;
      free();
      try {
        // A poll's frames count even if a newer poll already answered it; a closing link
        // (done, still registered) answers the poll with its close frame.
        const usable = l.registered && (poll !== null || !l.link.done);
        if (!usable) {
          if (poll?.answered) return;
          return this.host.shuttingDown ? refuse(responder, SHUTTING_DOWN) : reply(responder, 404, 'link ended');
        }
        // A plain POST is answered once its body is taken, while its frames are handled (§14.3); a
        // poll only after, as its answer may carry what they caused (the welcome to a hello).
        const taken = poll ? undefined : () => reply(responder, 204, '');
        if ((await deliver(l.link, got, token, taken)) === 'too-many-frames') {
          return refuseBody(responder, 413, `more than ${MAX_FRAMES_PER_POST} frames in one request`);
        }
        if (poll) l.polls!.hold(poll);
      } catch (err) {
        this.host.reportError(err, 'HTTP link');
        reply(responder, 500, 'internal error');
      } finally {
        release();
      }
    });
  }
}
