import { ended, ender, httpUrl, poster } from './http';
import type { Transport } from './types';

/**
 * Plain mode over the browser's native EventSource, on any SSE endpoint; `send()` POSTs to the
 * same URL. The browser's own reconnect is kept within a stream: it honours `retry:` and sends
 * Last-Event-ID, which is what plain SSE endpoints expect. Named 'sse', as in `transports: ['sse']`.
 */
export const plainSse = (): Transport => ({
  name: 'sse',
  protocol: 'plain',
  isSupported: (env) => typeof env.EventSource === 'function' && typeof env.fetch === 'function',
  open(url, h, { env }) {
    const base = httpUrl(url, env);
    const es = new env.EventSource!(base);
    const abort = new AbortController();
    const end = ender(h, () => {
      es.close();
      abort.abort();
    });
    const post = poster(base, env, end.fail, abort.signal);
    let opened = false;
    es.onopen = () => {
      if (opened) return;
      opened = true;
      h.onOpen();
    };
    es.onmessage = (e: MessageEvent<string>) => {
      if (opened) h.onFrame(e.data);
    };
    es.onerror = () => {
      // readyState 0: the browser is reconnecting by itself, which plain endpoints expect.
      if (!(opened && es.readyState === 0)) end.close(ended('EventSource failed'));
    };
    return {
      send: (text) => post.push(text),
      close: () => end.quiet(),
      get buffered() {
        return post.buffered;
      },
    };
  },
});
