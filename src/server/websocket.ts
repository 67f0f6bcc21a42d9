import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type ServerOptions } from 'ws';
import { CloseCode } from '../protocol';
import { SHUTTING_DOWN, type Admission, type Refusal } from './admission';
import { closeFrame, type Connection, type Link } from './link';
import type { ResolvedOptions } from './options';

/**
 * ws closes with 1009 (frame over maxPayload) or 1007 (invalid UTF-8) on its own. Those codes
 * are "retryable" under the protocol's rule, so a client would resend the same bad frame
 * forever; map them to the protocol's fatal codes, close frame included.
 */
export class ProtocolWebSocket extends WebSocket {
  override close(code?: number, data?: string | Buffer): void {
    const mapped =
      code === 1009
        ? ([CloseCode.TOO_LARGE, 'frame too large'] as const)
        : code === 1007
          ? ([CloseCode.PROTOCOL_ERROR, 'frame is not valid UTF-8'] as const)
          : null;
    if (mapped) {
      if (this.readyState === WebSocket.OPEN) this.send(closeFrame(mapped[0], mapped[1]));
      super.close(mapped[0], mapped[1]);
      return;
    }
    super.close(code, data);
  }
}

/** The Connection a Session sees, over one WebSocket. */
export function webSocketConnection(ws: WebSocket): Connection {
  return {
    send(text) {
      if (ws.readyState === WebSocket.OPEN) ws.send(text);
    },
    close(code, reason) {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CLOSING) ws.close(code, reason);
    },
    terminate() {
      ws.terminate();
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
  };
}

/** Feed a WebSocket's events into a Link: one WebSocket text message per frame. */
export function bindWebSocket(ws: WebSocket, link: Link): void {
  ws.on('message', (data, isBinary) => {
    if (isBinary) return link.fail(CloseCode.PROTOCOL_ERROR, 'binary WebSocket messages are not part of the protocol');
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    link.receive(buf.toString('utf8'), buf.length);
  });
  ws.on('error', (err: Error & { code?: string }) => {
    // ws has already closed the socket (see ProtocolWebSocket); 'close' follows.
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
      link.transportClosed(CloseCode.TOO_LARGE, 'frame too large', true);
    else if (err.code === 'WS_ERR_INVALID_UTF8')
      link.transportClosed(CloseCode.PROTOCOL_ERROR, 'frame is not valid UTF-8', true);
  });
  ws.on('close', (code, reason) => link.transportClosed(code, reason.toString()));
}

/** What the WebSocket transport needs from the server. */
export interface WebSocketHost {
  readonly options: ResolvedOptions;
  readonly admission: Admission;
  readonly shuttingDown: boolean;
  /** The protocol side of a new connection (it counts as waiting for hello). */
  accept(conn: Connection, request: IncomingMessage, ip: string): Link;
  reportError(error: unknown, context: string): void;
}

/** An answer on the raw socket, before any upgrade. */
function answerRaw(socket: Duplex, r: Refusal): void {
  const body = `${r.reason}\n`;
  const retry = r.retryAfter === undefined ? '' : `Retry-After: ${r.retryAfter}\r\n`;
  socket.end(
    `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ''}\r\nConnection: close\r\n${retry}Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

const NOT_HERE: Refusal = { code: CloseCode.PROTOCOL_ERROR, status: 400, reason: 'no WebSocket endpoint at this path' };

/**
 * An upgrade for a path that is not ours, on a server whose 'upgrade' listeners are ours and
 * `others` more. Node closes upgrades that nobody takes only while no listener exists, and ours
 * is one: without an answer the client waits for its own timeout. Another listener may take it
 * later (after an async check): it gets `wait` ms, and the socket is left alone once anything
 * was written to it or it closed.
 */
export function answerForeignUpgrade(socket: Duplex, others: number, wait: number): void {
  if (wait <= 0) return;
  if (others === 0) return answerRaw(socket, NOT_HERE);
  const timer = setTimeout(() => {
    if (socket.writable && !socket.destroyed && ((socket as Socket).bytesWritten ?? 0) === 0)
      answerRaw(socket, NOT_HERE);
  }, wait);
  timer.unref?.();
  socket.once('close', () => clearTimeout(timer));
}

/** Close a just-accepted WebSocket before any frame is processed: close frame, then close with the same code. */
function refuse(ws: WebSocket, code: number, reason: string): void {
  ws.on('error', () => {});
  const conn = webSocketConnection(ws);
  conn.send(closeFrame(code, reason));
  conn.close(code, reason, true);
}

/** The WebSocket transport (docs/protocol.md §13): upgrades on the server's path, one Link each. */
export class WebSocketTransport {
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();

  constructor(
    private readonly host: WebSocketHost,
    /** How long close() waits for clients to complete the close handshake. */
    graceMs: number,
  ) {
    const options: ServerOptions<typeof ProtocolWebSocket> & { closeTimeout: number } = {
      noServer: true,
      maxPayload: host.options.maxMessageBytes,
      perMessageDeflate: false,
      // Supported by ws 8.23 (our dependency floor) but missing from @types/ws: how long close() waits for the peer.
      closeTimeout: graceMs,
      WebSocket: ProtocolWebSocket,
    };
    this.wss = new WebSocketServer(options);
    this.wss.on('error', (err) => host.reportError(err, 'WebSocket server'));
  }

  /** An upgrade request on our path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {}); // Node removed its own listener from upgrade sockets; a reset must not crash us
    // Before the upgrade, shutting down is answered in HTTP, as on the other transports.
    if (this.host.shuttingDown) return answerRaw(socket, SHUTTING_DOWN);
    if (!this.host.options.transports.includes('websocket'))
      return answerRaw(socket, { code: CloseCode.FORBIDDEN, status: 403, reason: 'transport not offered' });
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
  }

  /** Resolves once every socket is closed (their close frames were sent by the sessions). */
  async close(): Promise<void> {
    await Promise.all(
      [...this.sockets].map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === WebSocket.CLOSED) return resolve();
            ws.once('close', () => resolve());
          }),
      ),
    );
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    this.sockets.add(ws);
    ws.once('close', () => this.sockets.delete(ws));
    // Accepted, then refused with a close code: a refused upgrade looks like a network error, which
    // a browser client retries for ever; 4403 is fatal.
    const verdict = this.host.admission.admit(req, 'connect');
    if (!verdict.admitted) return refuse(ws, verdict.refusal.code, verdict.refusal.reason);
    bindWebSocket(ws, this.host.accept(webSocketConnection(ws), req, verdict.ip));
  }
}
