import { canStream, check, ender, httpUrl, lines, linkId, poster, read, TEXT } from './http';
import type { Transport } from './types';

export interface LongPollOptions {
  /** How long the server may hold a poll open waiting for data, in ms; 0 makes it short polling. @default 25000 */
  wait?: number;
  /** Pause between polls, in ms. v1 servers hold each poll, so none is needed; short polling sets the pace here. @default 0 */
  interval?: number;
}

/** Frames that may wait for the next poll instead of costing a request of their own; the match is their type. */
const RIDES_POLL = /^\{"t":"(ack|pong)"/;

/**
 * Protocol v1 by long-polling: each poll is a POST the server holds until it has frames for us,
 * carrying our pending acks in its body; other frames go as POSTs to the link. For polling plain
 * JSON endpoints, see `plainPoll()`.
 */
export function longPoll({ wait = 25000, interval = 0 }: LongPollOptions = {}): Transport {
  return {
    name: 'long-poll',
    protocol: 'v1',
    auth: 'header',
    isSupported: canStream,
    open(url, h, { env, token, maxFrame, timeout }) {
      const abort = new AbortController();
      let timer: unknown;
      const end = ender(h, () => {
        env.clearTimeout(timer);
        abort.abort();
      });
      let link: ReturnType<typeof poster> | undefined;
      let id: string | undefined;
      /**
       * The ack and the pong waiting for the next poll, by type. Each carries the cumulative ack,
       * so a newer one replaces an older: a poll answer that goes on pinging cannot pile them up.
       */
      const held = new Map<string, string>();
      const request = (u: string, init: RequestInit = {}) =>
        env.fetch!(u, { ...init, signal: abort.signal, cache: 'no-store' });
      /** Hands over an NDJSON body's frames as their lines arrive, a last one without its \n included. */
      const frames = async (res: Response, frame: (text: string, bytes?: number) => void) => {
        const feed = lines(maxFrame, frame);
        await read(check(res, /ndjson/), feed);
        feed('\n');
      };

      const poll = async (): Promise<void> => {
        const body = [...held.values()].join('\n');
        held.clear();
        const res = await request(httpUrl(url, env, { link: id!, wait }), { method: 'POST', headers: TEXT, body });
        // A v1 server answers with what it had queued, written at once (docs/protocol.md §14.4). An
        // answer still bringing frames `wait` + `timeout` after it began never ends, and the acks
        // and pongs waiting for the next poll could never leave. One that stops bringing them is
        // a dead link, which the heartbeat deadline tells.
        const began = env.now();
        const late = wait + timeout;
        await frames(
          res,
          (line, bytes) =>
            end.over ||
            (env.now() - began > late
              ? h.onProtocolError(`poll answer still going after ${late} ms`)
              : h.onFrame(line, bytes)),
        );
        if (!end.over) timer = env.setTimeout(() => void poll().catch(end.fail), interval);
      };

      (async () => {
        let first = '';
        await frames(await request(httpUrl(url, env, { transport: 'long-poll' })), (line) => (first ||= line));
        id = linkId(first);
        if (!id) return h.onProtocolError('no link frame');
        link = poster(httpUrl(url, env, { link: id }), env, end.fail, abort.signal, token);
        if (!end.over) h.onOpen();
        return poll();
      })().catch(end.fail);

      return {
        send(text) {
          const rides = RIDES_POLL.exec(text);
          if (rides) held.set(rides[1]!, text);
          else link!.push(text);
        },
        close(code, reason) {
          link?.close(code, reason);
          end.quiet();
        },
        get buffered() {
          return link?.buffered ?? 0;
        },
      };
    },
  };
}
