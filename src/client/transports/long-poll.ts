import { canStream, check, cut, ender, httpUrl, lines, linkId, poster, read, TEXT } from './http';
import type { Transport } from './types';

export interface LongPollOptions {
  /** How long the server may hold a poll open waiting for data, in ms; 0 makes it short polling. @default 25000 */
  wait?: number;
  /**
   * Pause between polls, in ms. v1 servers hold each poll, so none is needed; for short polling
   * or plain endpoints that answer at once, set the pace here. Left at 0, plain mode still
   * starts at most one poll a second.
   * @default 0
   */
  interval?: number;
}

/** Frames that may wait for the next poll instead of costing a request of their own; the match is their type. */
const RIDES_POLL = /^\{"t":"(ack|pong)"/;

/**
 * Long-polling: each poll is a POST the server holds until it has frames for us, carrying our
 * pending acks in its body. In plain mode it polls any JSON endpoint with GET, sending the
 * `cursor` of the last response as `?since=` and its ETag as If-None-Match, so an unchanged
 * resource costs a 304.
 */
export function longPoll({ wait = 25000, interval = 0 }: LongPollOptions = {}): Transport {
  return {
    name: 'long-poll',
    auth: 'header',
    isSupported: canStream,
    open(url, h, { env, plain, token, maxFrame, timeout }) {
      const abort = new AbortController();
      let timer: unknown;
      const end = ender(h, () => {
        env.clearTimeout(timer);
        abort.abort();
      });
      // Plain mode sends to the URL itself; v1 replaces this with the link's URL.
      let link = poster(httpUrl(url, env), env, end.fail, abort.signal);
      /**
       * The ack and the pong waiting for the next poll, by type. Each carries the cumulative ack,
       * so a newer one replaces an older: a poll answer that goes on pinging cannot pile them up.
       */
      const held = new Map<string, string>();
      let cursor: unknown;
      let etag: string | null = null;
      const request = (u: string, init: RequestInit = {}) => env.fetch!(u, { ...init, signal: abort.signal, cache: 'no-store' });
      /** Hands over an NDJSON body's frames as their lines arrive, a last one without its \n included. */
      const frames = async (res: Response, frame: (text: string) => void) => {
        const feed = lines(maxFrame, frame);
        await read(check(res, /ndjson/), feed);
        feed('\n');
      };

      const poll = async (): Promise<void> => {
        const started = env.now();
        let res: Response;
        if (plain) {
          res = await request(cursor === undefined ? httpUrl(url, env) : httpUrl(url, env, { since: String(cursor) }), etag ? { headers: { 'If-None-Match': etag } } : {});
          if (res.status !== 304) {
            // The whole body is one frame: read no more of it than that may be.
            let text = '';
            await read(check(res, /json/), (t) => cut((text += t), maxFrame, h.onFrame));
            etag = res.headers.get('etag');
            try {
              cursor = JSON.parse(text)?.cursor ?? cursor;
            } catch {}
            h.onFrame(text);
          }
        } else {
          const body = [...held.values()].join('\n');
          held.clear();
          res = await request(httpUrl(url, env, { link: id!, wait }), { method: 'POST', headers: TEXT, body });
          // A v1 server answers with what it had queued, written at once (docs/protocol.md §14.4). An
          // answer still bringing frames `wait` + `timeout` after it began never ends, and the acks
          // and pongs waiting for the next poll could never leave. One that stops bringing them is
          // a dead link, which the heartbeat deadline tells.
          const began = env.now();
          const late = wait + timeout;
          await frames(res, (line) => end.over || (env.now() - began > late ? h.onProtocolError(`poll answer still going after ${late} ms`) : h.onFrame(line)));
        }
        const pause = interval || (plain ? 1000 - (env.now() - started) : 0);
        if (!end.over) timer = env.setTimeout(() => poll().catch(end.fail), pause);
      };

      let id: string | undefined;
      (async () => {
        if (!plain) {
          let first = '';
          await frames(await request(httpUrl(url, env, { transport: 'long-poll' })), (line) => (first ||= line));
          id = linkId(first);
          if (!id) return h.onProtocolError('no link frame');
          link = poster(httpUrl(url, env, { link: id }), env, end.fail, abort.signal, token);
        }
        if (!end.over) h.onOpen();
        return poll();
      })().catch(end.fail);

      return {
        send(text) {
          const rides = !plain && RIDES_POLL.exec(text);
          if (rides) held.set(rides[1]!, text);
          else link.push(text);
        },
        close(code, reason) {
          if (id) link.close(code, reason);
          end.quiet();
        },
        get buffered() {
          return link.buffered;
        },
      };
    },
  };
}
