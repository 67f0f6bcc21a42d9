import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode, FRAME_OVERHEAD, type HelloFrame } from '../protocol';
import { Admission } from './admission';
import { Handshake } from './handshake';
import { reply } from './http/respond';
import { HttpTransports } from './http/transports';
import { Link, type Connection } from './link';
import { resolveOptions, type RealtimeServerOptions, type ResolvedOptions } from './options';
import { serialise, Session } from './session';
import { MemoryEngine } from './state/memory';
import type { LinkDirectory, SessionEngine } from './state/types';
import { answerForeignUpgrade, WebSocketTransport } from './websocket';

export { SUPPORTED_VERSIONS } from './handshake';

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
// No `implements HandshakeHost`: the members it names are marked internal and stripped from the
// published .d.ts, where the clause would then fail; `new Handshake(this)` checks the shape.
export class RealtimeServer extends EventEmitter<RealtimeServerEvents> {
  /** @internal */
  readonly options: ResolvedOptions;
  /** Where sessions live: this process's memory, or Redis (`cluster`). */
  private readonly engine: SessionEngine;
  private readonly handshake: Handshake;
  private readonly sessionMap = new Map<string, Session>();
  /** Every protocol link open, any transport, for shutdown. */
  private readonly openLinks = new Set<Link>();
  /** @internal Who may come in: the one check for every path, and the per-address counts. */
  readonly admission: Admission;
  private readonly ws: WebSocketTransport;
  private readonly httpServer: RealtimeServerOptions['server'];
  private readonly http: HttpTransports;
  private readonly upgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.handleUpgrade(req, socket, head)) return;
    answerForeignUpgrade(socket, this.httpServer!.listenerCount('upgrade') - 1, this.options.foreignUpgradeTimeout);
  };
  /** The server's own 'request' listeners, taken over so they never see requests on our path. */
  private appListeners: RequestListener[] = [];
  private readonly requestListener = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.handleRequest(req, res)) return;
    for (const l of this.appListeners) l.call(this.httpServer, req, res);
    // Node answers nothing for a request no listener answers: with ours the only one, a request
    // for another path (a typo'd endpoint, `GET /`) would hang until the client gave up.
    if (this.appListeners.length === 0 && this.httpServer!.listenerCount('request') === 1) {
      reply(res, 404, `Not found: this server answers only its realtime endpoint, ${this.options.path}`);
    }
  };
  /** Requests already handled, so handleRequest() may be called again for the same one. */
  private readonly handled = new WeakSet<IncomingMessage>();
  private closing: Promise<void> | null = null;

  constructor(options: RealtimeServerOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.engine = this.options.cluster ?? new MemoryEngine(this.options.sessionStore, this.options.maxTotalReplayBytes);
    this.engine.bind(this);
    this.admission = new Admission(this);
    this.handshake = new Handshake(this, this.engine);
    this.http = new HttpTransports(this);
    this.ws = new WebSocketTransport(this, SHUTDOWN_GRACE_MS);
    const server = (this.httpServer = options.server);
    if (server) {
      // Headers arrive before we know the path, so this one limit is the server's: tighten, never loosen.
      const { headersTimeout } = this.options;
      if (headersTimeout > 0 && !(server.headersTimeout > 0 && server.headersTimeout <= headersTimeout))
        server.headersTimeout = headersTimeout;
      server.on('upgrade', this.upgradeListener);
      // Both our listener and the app's would answer a request on our path. Take over the
      // listeners present now and call them for other paths only (listeners added later see
      // every request: they should start with `if (rt.handleRequest(req, res)) return;`).
      this.appListeners = server.listeners('request') as RequestListener[];
      server.removeAllListeners('request');
      server.on('request', this.requestListener);
    }
    this.restoreSessions();
  }

  /** Restore every session the engine kept from before, disconnected and resumable; announce them on the next tick. */
  private restoreSessions(): void {
    const restored: Session[] = [];
    for (const state of this.engine.restored()) {
      const session = new Session(this, state, true);
      this.hold(session);
      restored.push(session);
    }
    process.nextTick(() => {
      for (const session of restored) if (!session.closed) this.announce('restore', session);
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
    this.ws.handleUpgrade(req, socket, head);
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

  /**
   * Send `data` to every live session (serialised once), connected or awaiting a resume; with a
   * `cluster`, to those of every process. With `filter`, to the sessions of this process that
   * pass it. Resolves with how many sessions got it.
   * @throws TypeError if `data` is not JSON-serialisable; RangeError if it cannot fit in a frame.
   */
  broadcast(data: unknown, filter?: (session: Session) => boolean): Promise<number> {
    const json = serialise(data);
    const bytes = Buffer.byteLength(json);
    if (bytes + FRAME_OVERHEAD > this.options.maxMessageBytes) {
      throw new RangeError(
        `realtime: message of ${bytes} bytes cannot fit in a frame (maxMessageBytes ${this.options.maxMessageBytes})`,
      );
    }
    // Sessions of other processes are reached through the engine, which knows them all.
    if (!filter && this.engine.broadcast) return this.engine.broadcast(json, bytes);
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
    if (skipped)
      this.reportError(
        new RangeError(
          `realtime: broadcast of ${bytes} bytes skipped ${skipped} session(s) whose client announced a smaller max (maxFrameSize) in hello`,
        ),
        'broadcast',
      );
    return Promise.resolve(n);
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
    for (const link of [...this.openLinks]) link.close(CloseCode.GOING_AWAY, reason);
    void Promise.all([this.ws.close(), this.http.shutdown(SHUTDOWN_GRACE_MS)])
      .then(() => this.engine.close())
      .catch((err) => this.reportError(err, 'closing the session engine'))
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
  accept(conn: Connection, request: IncomingMessage, ip = this.admission.clientIp(request)): Link {
    const link = new Link(this, conn, request, ip);
    this.openLinks.add(link);
    this.admission.waitingStarted(ip);
    return link;
  }

  /** @internal The link got its welcome or is gone: it no longer waits for hello. */
  onHandshakeOver(link: Link): void {
    this.admission.waitingOver(link.ip);
  }

  // ---- for the parts: Link, Session, Admission, HttpTransports, WebSocketTransport ---------

  /** @internal Resolves once the handshake is over: welcome sent, or the link refused. */
  onHello(link: Link, hello: HelloFrame, bearer?: string): void | Promise<void> {
    return this.handshake.hello(link, hello, bearer);
  }

  /** @internal */
  held(sid: string): Session | undefined {
    return this.sessionMap.get(sid);
  }

  /** @internal */
  hold(session: Session): void {
    this.sessionMap.set(session.id, session);
    this.admission.sessionOpened(session.remoteAddress);
  }

  /** @internal */
  announce(event: 'connection' | 'restore', session: Session): void {
    try {
      this.emit(event, session);
    } catch (err) {
      this.reportError(err, `'${event}' listener`);
    }
  }

  /** @internal True once close() was called. */
  get shuttingDown(): boolean {
    return this.closing !== null;
  }

  /** @internal Another process appended messages for a session whose link this one holds. */
  woke(sid: string, lastSeq: number): void {
    this.sessionMap.get(sid)?.woke(lastSeq);
  }

  /** @internal A newer link on another process took a session whose link this one held. */
  fenced(sid: string, epoch: number): void {
    this.sessionMap.get(sid)?.fenced(epoch);
  }

  /** @internal With a cluster: where the HTTP links of every process are. */
  get links(): LinkDirectory | undefined {
    return this.engine.links;
  }

  /** @internal A message from another process of the cluster (a relayed HTTP request or its answer). */
  relayed(message: string): void {
    this.http.relayed(message);
  }

  /** @internal A session must end: a replay overrun seen elsewhere, or the memory budget's eviction. */
  ended(sid: string, code: number, reason: string): void {
    this.sessionMap.get(sid)?.end(code, reason);
  }

  /** @internal */
  onLinkDone(link: Link): void {
    this.openLinks.delete(link);
  }

  /** @internal */
  onSessionEnd(session: Session): void {
    if (this.sessionMap.get(session.id) !== session) return;
    this.sessionMap.delete(session.id);
    this.admission.sessionEnded(session.remoteAddress);
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
}
