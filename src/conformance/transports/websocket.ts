import WebSocket from 'ws';
import { FrameLog, type Conn, type Outgoing, type SendOptions, type Sent } from '../conn';
import { frameBytes } from '../frames';
import type { Target } from '../target';
import { baseHeaders, type TransportDriver } from './types';

/** §13: one frame per WebSocket text message. */
class WebSocketConn extends FrameLog implements Conn {
  readonly linkId = undefined;
  readonly opening = undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly target: Target,
  ) {
    super();
    // Text frames arrive as one Buffer (ws's default binaryType, 'nodebuffer').
    ws.on('message', (data, isBinary) => this.take(isBinary ? '(binary message)' : (data as Buffer).toString()));
    ws.on('close', (code, reason) => this.finish({ code, reason: reason.toString(), gone: true }));
    ws.on('error', () => {}); // 'close' follows
  }

  async send(frames: Outgoing[], _options?: SendOptions): Promise<Sent> {
    // Text messages, even for bytes that are not UTF-8: what the server does with them is the point.
    for (const f of frames)
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frameBytes(this.withToken(f)), { binary: false });
    return { status: 0, body: '' };
  }

  /** A hello carries the token itself: browsers cannot set headers on a WebSocket (§4). */
  private withToken(f: Outgoing): Outgoing {
    if (
      typeof f === 'string' ||
      Buffer.isBuffer(f) ||
      !this.target.token ||
      (f as { t?: unknown }).t !== 'hello' ||
      'token' in f
    )
      return f;
    return { ...f, token: this.target.token };
  }

  protected sendQuietly(frames: Outgoing[]): void {
    void this.send(frames);
  }

  cut(): void {
    this.ws.terminate();
  }

  /** Closes from the kit's side with a WebSocket close code and no close frame. */
  closeWith(code: number, reason = ''): void {
    this.ws.close(code, reason);
  }

  sendBinary(bytes: Buffer): void {
    this.ws.send(bytes, { binary: true });
  }
}

/** Opens a WebSocket and waits for the upgrade; a refused upgrade rejects with its status. */
export function openWebSocket(target: Target, headers: Record<string, string> = {}): Promise<WebSocketConn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target.ws, { headers: baseHeaders(target, headers), perMessageDeflate: false });
    const conn = new WebSocketConn(ws, target);
    ws.once('open', () => resolve(conn));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

export type { WebSocketConn };

export const websocket: TransportDriver = {
  name: 'websocket',
  http: false,
  stream: false,
  polls: false,
  closeCodes: true,
  open: openWebSocket,
};
