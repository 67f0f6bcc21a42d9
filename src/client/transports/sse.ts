import { ended, ender, explainFailure, httpUrl, linkConnection, linkId, poster, type Poster } from './http';
import type { Transport } from './types';

/**
 * Protocol v1 over the browser's native EventSource, with frames to the server as POSTs to the
 * link. A failed EventSource is closed, not left to retry on its own, so the client's backoff and
 * resume stay in charge. For plain SSE endpoints, see `plainSse()`.
 */
export const sse = (): Transport => ({
  name: 'sse',
  protocol: 'v1',
  auth: 'header',
  isSupported: (env) => typeof env.EventSource === 'function' && typeof env.fetch === 'function',
  open(url, h, { env, token }) {
    const streamUrl = httpUrl(url, env, { transport: 'sse' });
    const es = new env.EventSource!(streamUrl);
    // Aborting the link's POSTs with it frees their sockets: a dead pooled one must not carry the next link.
    const abort = new AbortController();
    const end = ender(h, () => {
      es.close();
      abort.abort();
    });
    let post: Poster | undefined;
    es.onmessage = (e: MessageEvent<string>) => {
      if (post) return h.onFrame(e.data);
      const id = linkId(e.data);
      if (!id) return h.onProtocolError('no link frame');
      post = poster(httpUrl(url, env, { link: id }), env, end.fail, abort.signal, token);
      h.onOpen();
    };
    es.onerror = () => {
      if (post) return end.close(ended('EventSource failed'));
      // Before the link frame, EventSource hides why (an Origin refused, a wrong path): ask once.
      es.close();
      void explainFailure(streamUrl, env, abort.signal).then(end.close);
    };
    return linkConnection(() => post, end);
  },
});
