import { eventStream } from './event-stream';
import { canStream, check, ended, ender, httpUrl, linkConnection, linkId, poster, read, type Poster } from './http';
import type { Transport } from './types';

export interface FetchStreamOptions {
  /**
   * If the response opens but no byte follows within this many ms (our server sends one at once),
   * something in between is buffering the stream, and the transport fails so the client falls
   * back.
   * @default 3000
   */
  firstByteTimeout?: number;
}

/**
 * Protocol v1 over a fetch() whose body streams text/event-stream (parsed by eventsource-parser),
 * with frames to the server as POSTs to the link. Unlike EventSource it can be aborted at once.
 * For plain endpoints, see `plainStream()`.
 */
export function fetchStream({ firstByteTimeout = 3000 }: FetchStreamOptions = {}): Transport {
  return {
    name: 'fetch-stream',
    protocol: 'v1',
    auth: 'header',
    isSupported: canStream,
    open(url, h, { env, token, maxFrame }) {
      const abort = new AbortController();
      let timer: unknown;
      const end = ender(h, () => {
        env.clearTimeout(timer);
        abort.abort();
      });
      let post: Poster | undefined;
      const onEvent = (data: string, _id: string | undefined, bytes?: number) => {
        if (post) return h.onFrame(data, bytes);
        const link = linkId(data);
        if (!link) return h.onProtocolError('no link frame');
        post = poster(httpUrl(url, env, { link }), env, end.fail, abort.signal, token);
        h.onOpen();
      };
      (async () => {
        const res = check(
          await env.fetch!(httpUrl(url, env, { transport: 'fetch-stream' }), {
            signal: abort.signal,
            cache: 'no-store',
            headers: { Accept: 'text/event-stream' },
          }),
          /event-stream/,
        );
        const feed = eventStream(maxFrame, onEvent, h.onFrame);
        timer = env.setTimeout(
          () => end.close(ended('no first byte: a proxy is buffering the stream')),
          firstByteTimeout,
        );
        await read(res, (text) => {
          env.clearTimeout(timer);
          feed(text);
        });
        end.close(ended('stream ended'));
      })().catch(end.fail);
      return linkConnection(() => post, end);
    },
  };
}
