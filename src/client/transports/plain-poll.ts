import { canStream, check, cut, ender, httpUrl, poster, read } from './http';
import type { Transport } from './types';

export interface PlainPollOptions {
  /** Pause between polls, in ms; left at 0, a poll starts at most once a second. @default 0 */
  interval?: number;
}

/**
 * Plain mode by polling any JSON endpoint with GET: each 200 body is one frame. The `cursor` of
 * the last body goes back as `?since=` and its ETag as If-None-Match, so an unchanged resource
 * costs a 304; both live in the client's resume state, so a reconnect goes on from them.
 * `send()` POSTs to the same URL. Named 'long-poll', as in `transports: ['long-poll']`.
 */
export function plainPoll({ interval = 0 }: PlainPollOptions = {}): Transport {
  return {
    name: 'long-poll',
    protocol: 'plain',
    isSupported: canStream,
    open(url, h, { env, maxFrame, resume = {} }) {
      const abort = new AbortController();
      let timer: unknown;
      const end = ender(h, () => {
        env.clearTimeout(timer);
        abort.abort();
      });
      const post = poster(httpUrl(url, env), env, end.fail, abort.signal);
      let opened = false;

      const poll = async (): Promise<void> => {
        const started = env.now();
        const { cursor, etag } = resume;
        const res = await env.fetch!(cursor === undefined ? httpUrl(url, env) : httpUrl(url, env, { since: cursor }), {
          signal: abort.signal,
          cache: 'no-store',
          headers: etag === undefined ? {} : { 'If-None-Match': etag },
        });
        if (res.status === 304) open();
        else {
          check(res, /json/);
          open();
          // The whole body is one frame: read no more of it than that may be.
          let text = '';
          await read(res, (t) => cut((text += t), maxFrame, h.onFrame));
          resume.etag = res.headers.get('etag') ?? undefined;
          resume.cursor = cursorOf(text) ?? resume.cursor;
          h.onFrame(text);
        }
        if (!end.over)
          timer = env.setTimeout(() => void poll().catch(end.fail), interval || 1000 - (env.now() - started));
      };
      /** The first answer opens the connection: a refused first poll is a transport that failed to open. */
      const open = () => {
        if (opened || end.over) return;
        opened = true;
        h.onOpen();
      };

      poll().catch(end.fail);
      return {
        send: (text) => post.push(text),
        close: () => end.quiet(),
        get buffered() {
          return post.buffered;
        },
      };
    },
  };
}

/** The top-level `cursor` of a JSON body, a string or a number, as text for `?since=`, or undefined. */
function cursorOf(text: string): string | undefined {
  try {
    const body: unknown = JSON.parse(text);
    const cursor = typeof body === 'object' && body !== null && 'cursor' in body ? body.cursor : undefined;
    if (typeof cursor === 'string' || typeof cursor === 'number') return String(cursor);
  } catch {}
}
