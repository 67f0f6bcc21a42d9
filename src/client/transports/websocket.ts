import { CloseCode } from '../../protocol';
import type { Transport } from './types';
import { toUrl } from './types';

const decoder = /* @__PURE__ */ (() => (typeof TextDecoder === 'function' ? new TextDecoder() : undefined))();

/**
 * WebSocket: one frame per WebSocket message, for any protocol. The token travels in the hello
 * frame, never in the URL.
 */
export const websocket = (): Transport => ({
  name: 'websocket',
  // auth: 'frame' (the default), since browsers cannot set headers on a WebSocket.
  isSupported: (env) => typeof env.WebSocket === 'function',
  open(url, h, { env }) {
    const ws = new env.WebSocket!(toUrl(url, env, 'wss:', 'ws:'));
    ws.binaryType = 'arraybuffer';
    // 'close' always follows an error; the no-op listener stays after close() too, because
    // EventEmitter-based implementations (ws in Node) throw an 'error' nobody listens to.
    ws.onerror = () => {};
    let opened = false;
    ws.onopen = () => {
      opened = true;
      h.onOpen();
    };
    ws.onmessage = (e: MessageEvent<string | ArrayBuffer>) =>
      h.onFrame(typeof e.data === 'string' ? e.data : decoder!.decode(e.data));
    // Browsers give no reason for a connection that failed or broke (1006): say what it may mean.
    const unexplained = () =>
      opened
        ? 'closed without a close frame'
        : 'no WebSocket opened: server not running, wrong path, or upgrade refused';
    ws.onclose = (e) => h.onClose(e.code || CloseCode.ABNORMAL, e.reason || unexplained());
    return {
      send: (text) => ws.send(text),
      close(code, reason) {
        ws.onopen = ws.onmessage = ws.onclose = null;
        try {
          ws.close(code, reason);
        } catch {
          ws.close();
        }
      },
      get buffered() {
        return ws.bufferedAmount;
      },
    };
  },
});
