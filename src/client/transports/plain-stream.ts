import { eventStream } from './event-stream';
import { canStream, check, ended, ender, httpUrl, lines, poster, read } from './http';
import type { Transport } from './types';

/**
 * Plain mode over a fetch() whose body streams text/event-stream or NDJSON (one JSON value per
 * line), from any endpoint; `send()` POSTs to the same URL. Unlike EventSource it sends the
 * Last-Event-ID header itself when it reconnects, from the client's resume state, so the endpoint
 * goes on where the last stream stopped. Named 'fetch-stream', as in `transports: ['fetch-stream']`.
 */
export const plainStream = (): Transport => ({
  name: 'fetch-stream',
  protocol: 'plain',
  isSupported: canStream,
  open(url, h, { env, maxFrame, resume = {} }) {
    const base = httpUrl(url, env);
    const abort = new AbortController();
    const end = ender(h, () => abort.abort());
    const post = poster(base, env, end.fail, abort.signal);
    (async () => {
      const last = resume.lastEventId;
      const res = check(
        await env.fetch!(base, {
          signal: abort.signal,
          cache: 'no-store',
          headers:
            last === undefined
              ? { Accept: 'text/event-stream' }
              : { Accept: 'text/event-stream', 'Last-Event-ID': last },
        }),
        /event-stream|json/,
      );
      const onEvent = (data: string, id: string | undefined, bytes?: number) => {
        if (id !== undefined) resume.lastEventId = id;
        h.onFrame(data, bytes);
      };
      const feed = /event-stream/.test(res.headers.get('content-type')!)
        ? eventStream(maxFrame, onEvent, h.onFrame)
        : lines(maxFrame, h.onFrame);
      h.onOpen();
      await read(res, feed);
      end.close(ended('stream ended'));
    })().catch(end.fail);
    return {
      send: (text) => post.push(text),
      close: () => end.quiet(),
      get buffered() {
        return post.buffered;
      },
    };
  },
});
