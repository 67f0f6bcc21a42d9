import { createParser } from 'eventsource-parser';
import { canStream, check, cut, ender, httpUrl, lines, linkId, poster, read, type Poster } from './http';
import type { Transport } from './types';

export interface FetchStreamOptions {
  /**
   * Protocol v1: if the response opens but no byte follows within this many ms (our server sends
   * one at once), something in between is buffering the stream, and the transport fails so the
   * client falls back.
   * @default 3000
   */
  firstByteTimeout?: number;
}

/**
 * A fetch() whose body streams text/event-stream (parsed by eventsource-parser), or NDJSON in
 * plain mode, with frames to the server as POSTs. Unlike EventSource it can be aborted at once
 * and sends Last-Event-ID itself when it reconnects to a plain endpoint.
 */
export function fetchStream({ firstByteTimeout = 3000 }: FetchStreamOptions = {}): Transport {
  /** Last event id per URL, for plain endpoints that resume from it. */
  const lastIds = new Map<string, string>();
  return {
    name: 'fetch-stream',
    auth: 'header',
    isSupported: canStream,
    open(url, h, { env, plain, token, maxFrame }) {
      const base = httpUrl(url, env);
      const abort = new AbortController();
      let timer: unknown;
      const end = ender(h, () => {
        env.clearTimeout(timer);
        abort.abort();
      });
      let post: Poster | undefined = plain ? poster(base, env, end.fail, abort.signal) : undefined;
      const onData = (data: string, id?: string) => {
        if (post) {
          if (id !== undefined) lastIds.set(base, id);
          return h.onFrame(data);
        }
        const link = linkId(data);
        if (!link) return h.onProtocolError('no link frame');
        post = poster(httpUrl(url, env, { link }), env, end.fail, abort.signal, token);
        h.onOpen();
      };
      (async () => {
        const last = plain && lastIds.get(base);
        const res = check(
          await env.fetch!(plain ? base : httpUrl(url, env, { transport: 'fetch-stream' }), {
            signal: abort.signal,
            cache: 'no-store',
            headers: last ? { Accept: 'text/event-stream', 'Last-Event-ID': last } : { Accept: 'text/event-stream' },
          }),
          plain ? /event-stream|json/ : /event-stream/,
        );
        const sseBody = /event-stream/.test(res.headers.get('content-type')!);
        /** SSE text fed since the last blank line or event: at least what the parser holds. */
        let held = '';
        const parser = createParser({
          onEvent: (e) => {
            held = '';
            onData(e.data, e.id);
          },
        });
        const feed = sseBody
          ? (text: string) => {
              // Fed line by line, so `held` restarts where the parser drops what it held.
              for (const p of text.match(/[^\n]*\n?/g)!) {
                held = /^\r?\n$/.test(p) ? '' : held + p;
                parser.feed(p);
              }
              // SSE wraps a frame in 'data: ' and id lines: twice the limit leaves room for them.
              cut(held, 2 * maxFrame, h.onFrame);
            }
          : lines(maxFrame, onData);
        if (plain) h.onOpen();
        else timer = env.setTimeout(() => end.fail([1006, 'no first byte: a proxy is buffering the stream']), firstByteTimeout);
        await read(res, (text) => {
          env.clearTimeout(timer);
          feed(text);
        });
        throw [1006, 'stream ended'];
      })().catch(end.fail);
      return {
        send: (text) => post!.push(text),
        close(code, reason) {
          if (!plain && post) post.close(code, reason);
          end.quiet();
        },
        get buffered() {
          return post?.buffered ?? 0;
        },
      };
    },
  };
}
