import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type ServerOptions } from 'ws';
import { CloseCode, MIN_FRAME_LIMIT, PROTOCOL_VERSION, utf8Length, type HelloFrame } from '../protocol';
import { HttpTransports, type HttpHost } from './http';
import { closeFrame, Link, type Connection, type LinkHost } from './link';
import { resolveOptions, type RealtimeServerOptions, type ResolvedOptions } from './options';
import { FRAME_OVERHEAD, serialise, Session, type SessionHost } from './session';
import { ReplayBudget } from './replay';
import { isStoredSession, type SessionStore } from './store';
import { bindWebSocket, ProtocolWebSocket, webSocketConnection } from './websocket';
import { faults } from './faults';

/** Protocol versions this server speaks, highest preferred. */
export const SUPPORTED_VERSIONS: readonly number[] = [PROTOCOL_VERSION];

export interface RealtimeServerEvents {
  /** A new session (not a resume: see the session's 'resume' event). */
  connection: [session: Session];
  /**
   * A session restored from `sessionStore` at construction (emitted on the next tick, once per
   * session, instead of 'connection'): attach the app's handlers again. It awaits its client's
   * resume for `sessionTtl` ms.
   */
  restore: [session: Session];
  /** An application listener threw, or another unexpected error. Without a listener, errors go to console.error. */
  error: [error: unknown];
}

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** How long close() waits for clients to complete the WebSocket close handshake (and HTTP responses to finish). */
const SHUTDOWN_GRACE_MS = 2000;

/**
 * Reference server for realtime protocol v1. Serves one path of an HTTP server: WebSocket
 * upgrades and the HTTP transports (SSE, fetch-stream, long-poll); protocol state lives in
 * {@link Session}s, independent of the connections carrying them.
 */
export class RealtimeServer extends EventEmitter<RealtimeServerEvents> implements LinkHost, SessionHost, HttpHost {
  /** @internal */
  readonly options: ResolvedOptions;
  /** @internal */
  readonly replayBudget: ReplayBudget;
  private readonly sessionMap = new Map<string, Session>();
  private readonly perIp = new Map<string, number>();
  /** Connections (any transport) waiting for hello or authenticate, by address. */
  private readonly waitingHello = new Map<string, number>();
  private readonly links = new Set<Link>();
  private readonly sockets = new Set<WebSocket>();
  private readonly wss: WebSocketServer;
  private readonly httpServer: RealtimeServerOptions['server'];
  private readonly http: HttpTransports;
  private readonly upgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.handleUpgrade(req, socket, head);
  };
  /** The server's own 'request' listeners, taken over so they never see requests on our path. */
  private appListeners: RequestListener[] = [];
  private readonly requestListener = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.handleRequest(req, res)) return;
    for (const l of this.appListeners) l.call(this.httpServer, req, res);
  };
  /** Requests already handled, so handleRequest() may be called again for the same one. */
  private readonly handled = new WeakSet<IncomingMessage>();
  private closing: Promise<void> | null = null;

  constructor(options: RealtimeServerOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.replayBudget = new ReplayBudget(this.options.maxTotalReplayBytes);
    this.http = new HttpTransports(this);
    const wsOptions: ServerOptions<typeof ProtocolWebSocket> & { closeTimeout: number } = {
      noServer: true,
      maxPayload: this.options.maxMessageBytes,
      perMessageDeflate: false,
      // Supported by ws 8.23 (our dependency floor) but missing from @types/ws: how long close() waits for the peer.
      closeTimeout: SHUTDOWN_GRACE_MS,
      WebSocket: ProtocolWebSocket,
    };
    this.wss = new WebSocketServer(wsOptions);
    this.wss.on('error', (err) => this.reportError(err, 'WebSocket server'));
    const server = (this.httpServer = options.server);
    if (server) {
      // Headers arrive before we know the path, so this one limit is the server's: tighten, never loosen.
      const { headersTimeout } = this.options;
      if (headersTimeout > 0 && !(server.headersTimeout > 0 && server.headersTimeout <= headersTimeout)) server.headersTimeout = headersTimeout;
      server.on('upgrade', this.upgradeListener);
      // Both our listener and the app's would answer a request on our path. Take over the
      // listeners present now and call them for other paths only (listeners added later see
      // every request: they should start with `if (rt.handleRequest(req, res)) return;`).
      this.appListeners = server.listeners('request') as RequestListener[];
      server.removeAllListeners('request');
      server.on('request', this.requestListener);
    }
    if (this.options.sessionStore) this.restoreSessions(this.options.sessionStore);
  }

  /** Restore every stored session, disconnected and resumable; announce them on the next tick. */
  private restoreSessions(store: SessionStore): void {
    let stored: unknown[];
    try {
      stored = store.load();
    } catch (err) {
      return this.reportError(err, 'sessionStore.load');
    }
    const now = Date.now();
    const restored: Session[] = [];
    for (const s of Array.isArray(stored) ? stored : []) {
      if (!isStoredSession(s)) {
        this.reportError(new Error('sessionStore.load returned an invalid session: ignored'), 'sessionStore.load');
        continue;
      }
      if (this.sessionMap.has(s.sid)) continue;
      if (s.expiresAt !== undefined && s.expiresAt <= now) {
        // It expired while no server was running.
        try {
          store.remove(s.sid);
        } catch (err) {
          this.reportError(err, 'sessionStore.remove');
        }
        continue;
      }
      const session = new Session(this, s.remoteAddress ?? 'unknown', s);
      this.sessionMap.set(session.id, session);
      addIp(this.perIp, session.remoteAddress);
      restored.push(session);
    }
    process.nextTick(() => {
      for (const session of restored) {
        if (session.closed) continue;
        try {
          this.emit('restore', session);
        } catch (err) {
          this.reportError(err, "'restore' listener");
        }
      }
    });
  }

  /** Live sessions by id, connected or awaiting resume. */
  get sessions(): ReadonlyMap<string, Session> {
    return this.sessionMap;
  }

  /**
   * Handle an HTTP upgrade request. Returns false, leaving the socket untouched, when the path is
   * not ours. Called automatically when the `server` option is given.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (!this.ours(req)) return false;
    socket.on('error', () => {}); // Node removed its own listener from upgrade sockets; a reset must not crash us
    if (this.closing) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    if (!this.options.transports.includes('websocket')) {
      const body = 'transport not offered\n';
      socket.end(
        `HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        () => socket.destroy(),
      );
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.acceptWebSocket(ws, req));
    return true;
  }

  /**
   * Handle an HTTP request for the HTTP transports (docs/protocol.md §14). Returns false, leaving
   * the request untouched, when the path is not ours; true when it was handled (now or by an
   * earlier call for the same request). Called automatically when the `server` option is given.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.handled.has(req)) return true;
    const url = this.ours(req);
    if (!url) return false;
    this.handled.add(req);
    this.http.handle(req, res, url);
    return true;
  }

  /** Send `data` to every live session (serialised once). Returns how many sessions got it. */
  broadcast(data: unknown, filter?: (session: Session) => boolean): number {
    const json = serialise(data);
    const bytes = utf8Length(json);
    if (bytes + FRAME_OVERHEAD > this.options.maxMessageBytes) {
      throw new RangeError(`realtime: message of ${bytes} bytes cannot fit in a frame (maxMessageBytes ${this.options.maxMessageBytes})`);
    }
    let n = 0;
    let skipped = 0;
    for (const session of [...this.sessionMap.values()]) {
      if (session.closed || (filter && !filter(session))) continue;
      // One client announcing a small max must not cost the others the message: skip it, and say so.
      if (session.tooLarge(bytes)) skipped++;
      else {
        session.enqueue(json, bytes);
        if (!session.closed) n++; // not if it was ended to make room for the message
      }
    }
    if (skipped) this.reportError(new RangeError(`realtime: broadcast of ${bytes} bytes skipped ${skipped} session(s) whose client announced a smaller max (maxFrameSize) in hello`), 'broadcast');
    return n;
  }

  /**
   * Shut down: every connection is closed with 1001 "server shutting down" (clients reconnect),
   * every session ends. Resolves once the connections are closed. Does not close the HTTP server.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const reason = 'server shutting down';
    let done!: () => void;
    this.closing = new Promise<void>((resolve) => (done = resolve)); // from here on, requests on our path get 503
    for (const session of [...this.sessionMap.values()]) session.end(CloseCode.GOING_AWAY, reason);
    for (const link of [...this.links]) link.close(CloseCode.GOING_AWAY, reason);
    const pending = [...this.sockets].map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
        }),
    );
    pending.push(this.http.shutdown(SHUTDOWN_GRACE_MS));
    void Promise.all(pending)
      .then(() => new Promise<void>((resolve) => this.wss.close(() => resolve())))
      .then(() => {
        this.detachFromServer();
        done();
      });
    return this.closing;
  }

  /**
   * Accept a connection from any transport. The transport calls `link.receive(text)` for each
   * incoming frame and `link.transportClosed(code?)` when it is gone.
   * @internal
   */
  accept(conn: Connection, request: IncomingMessage, ip = this.clientIp(request)): Link {
    const link = new Link(this, conn, request, ip);
    this.links.add(link);
    addIp(this.waitingHello, ip);
    return link;
  }

  /**
   * @internal Whether `ip` already has `maxSessionsPerIp` connections waiting for hello (or for
   * authenticate), on any transport. Such connections cost memory and a timer; the session limit
   * applies only at hello, once the server knows whether the connection resumes a session.
   */
  tooManyWaiting(ip: string): boolean {
    return (this.waitingHello.get(ip) ?? 0) >= this.options.maxSessionsPerIp;
  }

  /** @internal The link got its welcome or is gone: it no longer waits for hello. */
  onHandshakeOver(link: Link): void {
    removeIp(this.waitingHello, link.ip);
  }

  // ---- LinkHost / SessionHost ------------------------------------------------------------

  /** @internal */
  onHello(link: Link, hello: HelloFrame, bearer?: string): void {
    if (hello.max !== undefined && hello.max < MIN_FRAME_LIMIT) return link.close(CloseCode.PROTOCOL_ERROR, `hello max ${hello.max} is below ${MIN_FRAME_LIMIT}`);
    let version = -1;
    for (const v of hello.v) if (SUPPORTED_VERSIONS.includes(v) && v > version) version = v;
    if (version < 0) {
      return link.close(CloseCode.UNSUPPORTED_VERSION, `no common protocol version: server speaks ${SUPPORTED_VERSIONS.join(', ')}`);
    }
    const auth = this.options.authenticate;
    if (!auth) return this.welcome(link, hello, version, true);
    let result: unknown;
    try {
      // HTTP clients send the token in a header; a token in hello (any client may) comes first.
      result = auth(hello.token ?? bearer, link.request);
    } catch {
      return link.close(CloseCode.UNAUTHORIZED, 'unauthorized');
    }
    let thenable: boolean;
    try {
      thenable = isThenable(result); // reads `.then`: a getter may throw
      if (thenable) {
        (result as PromiseLike<unknown>).then(
          (value) => (value ? this.welcome(link, hello, version, value) : link.close(CloseCode.UNAUTHORIZED, 'unauthorized')),
          () => link.close(CloseCode.UNAUTHORIZED, 'unauthorized'),
        );
      }
    } catch (err) {
      this.reportError(err, 'authenticate');
      return link.close(CloseCode.UNAUTHORIZED, 'unauthorized');
    }
    if (thenable) return;
    if (result) this.welcome(link, hello, version, result);
    else link.close(CloseCode.UNAUTHORIZED, 'unauthorized');
  }

  /**
   * @internal The server-wide replay bound: while a message of `cost` would not fit, end the
   * session holding the most (the slowest or most hostile reader), then the next. Only under
   * memory pressure does this scan the sessions; each session ended frees at least the average.
   */
  makeRoomForReplay(cost: number): void {
    while (this.replayBudget.wouldExceed(cost)) {
      let largest: Session | undefined;
      for (const session of this.sessionMap.values()) if (session.replayCost > (largest?.replayCost ?? 0)) largest = session;
      if (!largest) return;
      largest.end(CloseCode.SERVER_ERROR, 'server replay memory full');
    }
  }

  /** @internal True once close() was called. */
  get shuttingDown(): boolean {
    return this.closing !== null;
  }

  /** @internal */
  clientIp(request: IncomingMessage): string {
    const fallback = request.socket?.remoteAddress ?? 'unknown';
    const custom = this.options.clientIp;
    if (!custom) return fallback;
    try {
      return custom(request) ?? fallback;
    } catch (err) {
      // An app bug must not crash the process (this runs inside ws' upgrade callback).
      this.reportError(err, 'clientIp');
      return fallback;
    }
  }

  /** @internal */
  onLinkDone(link: Link): void {
    this.links.delete(link);
  }

  /** @internal */
  onSessionEnd(session: Session): void {
    if (this.sessionMap.get(session.id) !== session) return;
    this.sessionMap.delete(session.id);
    removeIp(this.perIp, session.remoteAddress);
    try {
      this.options.sessionStore?.remove(session.id);
    } catch (err) {
      this.reportError(err, 'sessionStore.remove');
    }
  }

  /** @internal Never includes tokens: only application errors and their context. */
  reportError(error: unknown, context: string): void {
    if (this.listenerCount('error') > 0) {
      try {
        this.emit('error', error);
        return;
      } catch (err) {
        error = err;
      }
    }
    console.error(`[realtime-server] ${context}:`, error);
  }

  // ---- internals -------------------------------------------------------------------------

  private welcome(link: Link, hello: HelloFrame, version: number, auth: unknown): void {
    if (link.done) return; // closed while authenticating
    if (this.closing) return link.close(CloseCode.GOING_AWAY, 'server shutting down');
    let session: Session | undefined;
    if (hello.sid !== undefined && hello.key !== undefined) {
      const existing = this.sessionMap.get(hello.sid);
      if (existing && (faults.noKeyCheck || existing.matchesKey(hello.key)) && existing.canResume(hello.a)) {
        // A client now taking smaller frames (hello.max) than a message it has yet to receive
        // could never resume past it: end the session (its 'close' says why), and the new one's
        // resumed: false tells the client that data was lost.
        const why = existing.cannotTake(hello.a, hello.max);
        if (why) existing.end(CloseCode.TOO_LARGE, why);
        else session = existing;
      }
    }
    const resumed = session !== undefined;
    if (!session) {
      if ((this.perIp.get(link.ip) ?? 0) >= this.options.maxSessionsPerIp) return link.close(CloseCode.RATE_LIMITED, 'too many sessions from this address');
      session = new Session(this, link.ip);
      this.sessionMap.set(session.id, session);
      addIp(this.perIp, link.ip);
    }
    if (!session.attach(link, version, resumed, hello.a, hello.max)) {
      // Not saved: a new session is dropped; a resumed one is left as it was (awaiting a resume).
      if (!resumed) session.end(CloseCode.SERVER_ERROR, 'session store unavailable');
      return;
    }
    session.auth = auth;
    if (resumed) {
      try {
        session.emit('resume');
      } catch (err) {
        this.reportError(err, "session 'resume' listener");
      }
      return;
    }
    try {
      this.emit('connection', session);
    } catch (err) {
      this.reportError(err, "'connection' listener");
    }
  }

  /** @internal */
  originAllowed(origin: string | undefined): boolean {
    const allowed = this.options.allowedOrigins;
    if (allowed === undefined || faults.ignoreOrigin) return true;
    if (typeof allowed === 'function') {
      try {
        return allowed(origin) === true;
      } catch (err) {
        this.reportError(err, 'allowedOrigins');
        return false;
      }
    }
    if (origin === undefined) return false;
    const o = origin.toLowerCase().replace(/\/$/, '');
    return allowed.some((a) => a.toLowerCase().replace(/\/$/, '') === o);
  }

  /** The request's URL if its path is ours. */
  private ours(req: IncomingMessage): URL | null {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      return url.pathname === this.options.path ? url : null;
    } catch {
      return null;
    }
  }

  /** After shutdown: give the HTTP server back its own listeners, in their original order. */
  private detachFromServer(): void {
    const server = this.httpServer;
    if (!server) return;
    server.off('upgrade', this.upgradeListener);
    if (!server.listeners('request').includes(this.requestListener)) return;
    server.off('request', this.requestListener);
    for (const l of [...this.appListeners].reverse()) server.prependListener('request', l);
    this.appListeners = [];
  }

  private acceptWebSocket(ws: WebSocket, req: IncomingMessage): void {
    this.sockets.add(ws);
    ws.once('close', () => this.sockets.delete(ws));
    if (this.closing) return refuse(ws, CloseCode.GOING_AWAY, 'server shutting down');
    // Accept, then refuse with a fatal code: a refused upgrade looks like a retryable network error.
    if (!this.originAllowed(req.headers.origin)) return refuse(ws, CloseCode.FORBIDDEN, 'origin not allowed');
    const ip = this.clientIp(req);
    if (this.tooManyWaiting(ip)) return refuse(ws, CloseCode.RATE_LIMITED, 'too many connections waiting for hello from this address');
    bindWebSocket(ws, this.accept(webSocketConnection(ws), req, ip));
  }
}

/** Close a just-accepted WebSocket before any frame is processed: close frame, then close with the same code. */
function refuse(ws: WebSocket, code: number, reason: string): void {
  ws.on('error', () => {});
  const conn = webSocketConnection(ws);
  conn.send(closeFrame(code, reason));
  conn.close(code, reason, true);
}

function addIp(counts: Map<string, number>, ip: string): void {
  counts.set(ip, (counts.get(ip) ?? 0) + 1);
}

function removeIp(counts: Map<string, number>, ip: string): void {
  const n = (counts.get(ip) ?? 1) - 1;
  if (n > 0) counts.set(ip, n);
  else counts.delete(ip);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as PromiseLike<unknown>).then === 'function';
}
