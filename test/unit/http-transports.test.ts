// @vitest-environment node
// maxFrameSize on the HTTP transports that gather a frame piecewise: a server that never ends a
// frame must not make them buffer it all.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealtimeClient, RealtimeError } from '../../src/index';
import { fetchStream } from '../../src/client/transports/fetch-stream';
import { sse } from '../../src/client/transports/sse';
import { longPoll } from '../../src/client/transports/long-poll';
import { plainPoll } from '../../src/client/transports/plain-poll';
import { plainStream } from '../../src/client/transports/plain-stream';
import type { Env } from '../../src/client/env';
import type { Transport, TransportHandlers } from '../../src/client/transports/types';
import { settle, testEnv, urlOf } from './helpers';

const MAX = 4096;
const CHUNK = 1000;
/** "Never-ending": 200 KB, far past the limit, yet finite so that a transport buffering it all ends the test instead of hanging it. */
const CHUNKS = 200;

/** A response body: `head`, then `CHUNKS` × `chunk`, produced only as read. Aborting the request errors it, as fetch does. */
function endless(head: string, chunk: string, signal?: AbortSignal | null) {
  const enc = new TextEncoder();
  const s = { produced: 0, aborted: false, body: null as unknown as ReadableStream<Uint8Array> };
  let n = 0;
  s.body = new ReadableStream<Uint8Array>({
    start(c) {
      signal?.addEventListener('abort', () => {
        s.aborted = true;
        c.error(new DOMException('aborted', 'AbortError'));
      });
    },
    pull(c) {
      const text = n++ === 0 ? head : chunk;
      if (n > CHUNKS + 1) return c.close();
      s.produced += text.length;
      c.enqueue(enc.encode(text));
    },
  });
  return s;
}

const respond = (body: BodyInit | null, type: string, status = 200) =>
  new Response(body, { status, headers: { 'content-type': type } });

beforeEach(() => {
  vi.useFakeTimers();
});

let client: RealtimeClient | undefined;
afterEach(() => {
  client?.close();
  client = undefined;
  vi.useRealTimers();
});

describe('a line that never ends (200 KB without a newline, maxFrameSize 4 KiB)', () => {
  it('plainStream, NDJSON: the client gets what came before, then a message-too-large error; the stream is cut off past the limit and the next attempt waits for the backoff', async () => {
    const streams: ReturnType<typeof endless>[] = [];
    const fetch = (_url: RequestInfo | URL, init?: RequestInit) => {
      const s = endless('{"n":1}\n', 'x'.repeat(CHUNK), init?.signal);
      streams.push(s);
      return Promise.resolve(respond(s.body, 'application/x-ndjson'));
    };
    client = new RealtimeClient('http://rt.test/feed', {
      protocol: 'plain',
      transports: [plainStream()],
      maxFrameSize: MAX,
      reconnect: { initialDelay: 1000 },
      env: testEnv({ fetch }),
    });
    const got: unknown[] = [];
    const errors: RealtimeError[] = [];
    client.on('message', (d) => got.push(d));
    client.on('error', (e) => errors.push(e));
    await settle();
    expect(got).toEqual([{ n: 1 }]);
    expect(errors).toMatchObject([{ code: 'message-too-large' }]);
    expect(errors[0]!.message).toMatch(/maxFrameSize \(4096 B\)/);
    // Read only a little past the limit: the line in progress, and at most a chunk or two ahead.
    expect(streams[0]!.produced).toBeLessThan(MAX + 3 * CHUNK);
    expect(streams[0]!.aborted).toBe(true);
    expect(client.state).toBe('reconnecting');
    await settle(400);
    expect(streams).toHaveLength(1);
    await settle(200); // the backoff: 0.5 × 1000 ms
    expect(streams).toHaveLength(2);
  });
});

/** Opens `transport` by itself and records what it reports. */
function openAlone(transport: Transport, fetch: typeof globalThis.fetch) {
  const log = { opened: 0, frames: [] as string[], closes: [] as [number, string][] };
  const h: TransportHandlers = {
    onOpen: () => log.opened++,
    onFrame: (t) => log.frames.push(t),
    onClose: (code, reason) => log.closes.push([code, reason]),
    onProtocolError: (what) => log.closes.push([4400, what]),
  };
  openWith(transport, h, fetch);
  return log;
}

/**
 * Opens `transport` with `h` over `fetch`, on real timers: ending a link clears its timers, so
 * the env needs both (a missing clearTimeout is an unhandled rejection, which fails the run).
 */
function openWith(transport: Transport, h: TransportHandlers, fetch: typeof globalThis.fetch): void {
  const env = {
    ...testEnv(),
    fetch,
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    now: Date.now,
    baseUrl: undefined,
  } as Env;
  transport.open('http://rt.test/realtime', h, { env, maxFrame: MAX, timeout: 10_000, resume: {} });
}

describe('a frame that never ends, on each HTTP transport that gathers one piecewise', () => {
  it.each([
    // A v1 stream link: the link event, then an event whose one data line never ends.
    ['fetch-stream, SSE body, one endless data line', 'x'.repeat(CHUNK), 2 * MAX],
    // An event whose data lines keep coming without the blank line that would end it.
    ['fetch-stream, SSE body, endless data lines', `data: ${'x'.repeat(CHUNK - 7)}\n`, 2 * MAX],
  ])('%s: cut off past the limit and handed over as too long', async (_, chunk, limit) => {
    let stream!: ReturnType<typeof endless>;
    const fetch = ((_url: RequestInfo | URL, init?: RequestInit) => {
      stream = endless('data: {"t":"link","id":"L1"}\n\ndata: ', chunk, init?.signal);
      return Promise.resolve(respond(stream.body, 'text/event-stream'));
    }) as typeof globalThis.fetch;
    const log = openAlone(fetchStream(), fetch);
    await settle();
    expect(log.opened).toBe(1);
    expect(log.frames).toHaveLength(1);
    expect(log.frames[0]!.length).toBeGreaterThan(MAX);
    expect(stream.produced).toBeLessThan(limit + 3 * CHUNK);
    expect(stream.aborted).toBe(true);
    expect(log.closes).toHaveLength(1);
  });

  it('long-poll v1: a poll answer whose line never ends is cut off past the limit', async () => {
    let stream!: ReturnType<typeof endless>;
    const fetch = ((url: RequestInfo | URL, init?: RequestInit) => {
      if (!urlOf(url).includes('link=')) {
        return Promise.resolve(respond('{"t":"link","id":"L1"}\n', 'application/x-ndjson'));
      }
      stream = endless('{"t":"ping"}\n', 'x'.repeat(CHUNK), init?.signal);
      return Promise.resolve(respond(stream.body, 'application/x-ndjson'));
    }) as typeof globalThis.fetch;
    const log = openAlone(longPoll(), fetch);
    await settle();
    expect(log.opened).toBe(1);
    expect(log.frames[0]).toBe('{"t":"ping"}');
    expect(log.frames).toHaveLength(2);
    expect(log.frames[1]!.length).toBeGreaterThan(MAX);
    expect(stream.produced).toBeLessThan(MAX + 3 * CHUNK);
    expect(stream.aborted).toBe(true);
  });

  it('plainPoll: a response body longer than the limit is cut off past it', async () => {
    let stream!: ReturnType<typeof endless>;
    const fetch = ((_url: RequestInfo | URL, init?: RequestInit) => {
      stream = endless('{"big":"', 'x'.repeat(CHUNK), init?.signal);
      return Promise.resolve(respond(stream.body, 'application/json'));
    }) as typeof globalThis.fetch;
    const log = openAlone(plainPoll(), fetch);
    await settle();
    expect(log.frames).toHaveLength(1);
    expect(log.frames[0]!.length).toBeGreaterThan(MAX);
    expect(stream.produced).toBeLessThan(MAX + 3 * CHUNK);
    expect(stream.aborted).toBe(true);
  });
});

describe('sse: an EventSource that fails before its link frame', () => {
  /** An EventSource that fails at once, as a browser's does on a 403 or 404 (status hidden). */
  class FailingEventSource {
    onerror: (() => void) | null = null;
    onmessage: unknown = null;
    closed = false;
    constructor(readonly url: string) {
      setTimeout(() => this.onerror?.(), 0);
    }
    close(): void {
      this.closed = true;
    }
  }

  /** The close events of an sse client whose EventSource fails, with `fetch` answering the explaining GET. */
  async function closesWith(fetch: Env['fetch']): Promise<Array<{ code: number; reason: string }>> {
    const closes: Array<{ code: number; reason: string }> = [];
    client = new RealtimeClient('http://rt.test/realtime', {
      transports: [sse()],
      reconnect: { initialDelay: 60_000 },
      env: testEnv({ fetch, EventSource: FailingEventSource as never }),
    });
    client.on('close', (e) => closes.push(e));
    await vi.advanceTimersByTimeAsync(10);
    return closes;
  }

  it('asks the URL once with a GET and names the status and what the server said (HTTP 403 origin not allowed)', async () => {
    const asked: string[] = [];
    const fetch = (url: RequestInfo | URL) => {
      asked.push(urlOf(url));
      return Promise.resolve(
        new Response('origin not allowed\n', { status: 403, headers: { 'content-type': 'text/plain' } }),
      );
    };
    const closes = await closesWith(fetch);
    expect(closes[0]).toMatchObject({ code: 4401, reason: 'HTTP 403 origin not allowed' });
    expect(asked).toEqual(['http://rt.test/realtime?transport=sse']);
  });

  it('a GET that succeeds is cancelled at once, and the failure stays "EventSource failed"', async () => {
    let cancelled = false;
    const fetch = () =>
      Promise.resolve(
        new Response(new ReadableStream({ cancel: () => void (cancelled = true) }), {
          status: 200,
          headers: { 'content-type': 'text/event-stream' },
        }),
      );
    const closes = await closesWith(fetch);
    expect(closes[0]).toMatchObject({ code: 1006, reason: 'EventSource failed' });
    expect(cancelled).toBe(true);
  });
});

describe("the HTTP transports tell a frame's size when every byte so far was ASCII, so the client need not count it", () => {
  /** A long-poll link whose first poll answers with `chunks` (bytes, read one at a time), then holds; and the (text, bytes) pairs it reports. */
  async function longPollFrames(...chunks: Uint8Array[]) {
    const body = new ReadableStream<Uint8Array>({
      pull: (c) => {
        const next = chunks.shift();
        if (next) c.enqueue(next);
        else c.close();
      },
    });
    const got: Array<[string, number | undefined]> = [];
    let polls = 0;
    const fetch = ((url: RequestInfo | URL) => {
      if (!urlOf(url).includes('link='))
        return Promise.resolve(respond('{"t":"link","id":"L1"}\n', 'application/x-ndjson'));
      return polls++ === 0 ? Promise.resolve(respond(body, 'application/x-ndjson')) : new Promise<never>(() => {});
    }) as typeof globalThis.fetch;
    const h: TransportHandlers = {
      onOpen: () => {},
      onFrame: (text, bytes) => got.push([text, bytes]),
      onClose: () => {},
      onProtocolError: () => {},
    };
    openWith(longPoll(), h, fetch);
    await settle();
    return got;
  }
  const bytes = (...parts: Array<string | number[]>) =>
    new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...new TextEncoder().encode(p)] : p)));

  it('ASCII: each frame with its length as its size', async () => {
    expect(await longPollFrames(bytes('{"t":"ping"}\n{"t":"ping","a":0}\n'))).toEqual([
      ['{"t":"ping"}', 12],
      ['{"t":"ping","a":0}', 18],
    ]);
  });

  it('from the first piece with a byte that is not ASCII on (é), no size: the client counts', async () => {
    expect(await longPollFrames(bytes('{"t":"ping"}\n'), bytes('"é"\n'), bytes('{"t":"ping"}\n'))).toEqual([
      ['{"t":"ping"}', 12],
      ['"é"', undefined],
      ['{"t":"ping"}', undefined],
    ]);
  });

  it('an invalid byte (0xFF, decoded as one U+FFFD, one character for one byte) is not taken for ASCII', async () => {
    expect(await longPollFrames(bytes('"', [0xff], '"\n'))).toEqual([['"\ufffd"', undefined]]);
  });
});
