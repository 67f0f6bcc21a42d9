// The custom transport of README "Writing a transport", as printed there (transport-contract.test.ts checks the two are the same):
// frames go over a MessagePort to whatever holds the real connection (a SharedWorker, an iframe).
// The transport contract suite runs it beside the built-in ones.
import type { Transport } from '../../src/core';

/** What the holder of the real connection posts to the port. */
type FromHolder = { type: 'open' } | { type: 'frame'; text: string } | { type: 'close'; code: number; reason: string };

export const messagePortTransport = (connect: () => MessagePort): Transport => ({
  name: 'message-port', // any string: shown in client.transport and the 'transport' event
  isSupported: () => typeof MessageChannel === 'function',
  open(url, h) {
    const port = connect();
    let over = false; // after onClose, or the client's close(), nothing more is reported
    port.onmessage = ({ data }: MessageEvent<FromHolder>) => {
      if (over) return;
      if (data.type === 'open') h.onOpen();
      if (data.type === 'frame') h.onFrame(data.text);
      if (data.type !== 'close') return;
      over = true;
      port.close();
      h.onClose(data.code, data.reason);
    };
    port.postMessage({ type: 'connect', url }); // answered later: no callback from inside open()
    return {
      send: (text) => port.postMessage({ type: 'frame', text }),
      close(code, reason) {
        if (over) return;
        over = true;
        port.postMessage({ type: 'close', code, reason });
        port.close();
      },
      buffered: 0, // postMessage hands the text over at once: nothing waits here
    };
  },
});
