import { ender, httpUrl, linkId, poster, type Poster } from './http';
import type { Transport } from './types';

/**
 * Server-Sent Events over the browser's native EventSource, with frames to the server as POSTs.
 * In v1 a failed EventSource is closed, not left to retry on its own, so the client's backoff and
 * resume stay in charge. In plain mode the browser's own reconnect is kept: it honours `retry:`
 * and sends Last-Event-ID, which is what plain SSE endpoints expect.
 */
export const sse = (): Transport => ({
  name: 'sse',
  auth: 'header',
  isSupported: (env) => typeof env.EventSource === 'function' && typeof env.fetch === 'function',
  open(url, h, { env, plain, token }) {
    const base = httpUrl(url, env);
    const es = new env.EventSource!(plain ? base : httpUrl(url, env, { transport: 'sse' }));
    // Aborting the link's POSTs with it frees their sockets: a dead pooled one must not carry the next link.
    const abort = new AbortController();
    const end = ender(h, () => {
      es.close();
      abort.abort();
    });
    let post: Poster | undefined = plain ? poster(base, env, end.fail, abort.signal) : undefined;
    let opened = false;
    es.onmessage = (e) => {
      if (opened) return h.onFrame(e.data);
      const id = linkId(e.data);
      if (!id) return h.onProtocolError('no link frame');
      post = poster(httpUrl(url, env, { link: id }), env, end.fail, abort.signal, token);
      opened = true;
      h.onOpen();
    };
    es.onopen = () => {
      if (plain && !opened) (opened = true), h.onOpen();
    };
    es.onerror = () => {
      // readyState 0: the browser is reconnecting by itself, which plain mode lets it do.
      if (!(plain && opened && es.readyState === 0)) end.fail([1006, 'EventSource failed']);
    };
    return {
      send: (text) => post!.push(text),
      close(code, reason) {
        if (!plain && opened) post!.close(code, reason);
        end.quiet();
      },
      get buffered() {
        return post?.buffered ?? 0;
      },
    };
  },
});
