import WebSocket from 'ws';
import { CloseCode } from '../protocol';
import { closeFrame, type Connection, type Link } from './link';

/**
 * ws closes with 1009 (frame over maxPayload) or 1007 (invalid UTF-8) on its own. Those codes
 * are "retryable" under the protocol's rule, so a client would resend the same bad frame
 * forever; map them to the protocol's fatal codes, close frame included.
 */
export class ProtocolWebSocket extends WebSocket {
  override close(code?: number, data?: string | Buffer): void {
    const mapped = code === 1009 ? ([CloseCode.TOO_LARGE, 'frame too large'] as const) : code === 1007 ? ([CloseCode.PROTOCOL_ERROR, 'frame is not valid UTF-8'] as const) : null;
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
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') link.transportClosed(CloseCode.TOO_LARGE, 'frame too large', true);
    else if (err.code === 'WS_ERR_INVALID_UTF8') link.transportClosed(CloseCode.PROTOCOL_ERROR, 'frame is not valid UTF-8', true);
  });
  ws.on('close', (code, reason) => link.transportClosed(code, reason.toString()));
}
