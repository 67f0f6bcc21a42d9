// @vitest-environment node
// The transport contract: the rules written in src/client/transports/types.ts, run as one
// parameterised suite against every built-in transport and a custom one (README "Writing a
// transport"). Each transport talks to an in-memory peer that plays its server and platform
// (WebSocket, EventSource, fetch) the way browsers do: no event after close(), a WebSocket's
// close event after close(), fetch() rejecting once aborted.
import { afterEach, describe, expect, it } from 'vitest';
import { resolveEnv, type Env } from '../../src/client/env';
import { fetchStream } from '../../src/client/transports/fetch-stream';
import { longPoll } from '../../src/client/transports/long-poll';
import { plainPoll } from '../../src/client/transports/plain-poll';
import { plainSse } from '../../src/client/transports/plain-sse';
import { plainStream } from '../../src/client/transports/plain-stream';
import { sse } from '../../src/client/transports/sse';
import type { Connection, Transport, TransportHandlers } from '../../src/client/transports/types';
import { websocket } from '../../src/client/transports/websocket';
import { messagePortTransport } from './custom-transport';
import { urlOf } from './helpers';
import { waitFor } from '../wait';

/** The server and platform side of one connection. */
interface Peer {
  env: Partial<Env>;
  /** The server accepts: the transport may report onOpen. */
  accept(): Promise<void>;
  /** The server sends one frame. */
  push(text: string): Promise<void>;
  /** The server ends the connection (or the network drops it). */
  end(): Promise<void>;
  /** Frames from the client that reached the server. */
  sent: string[];
  /** Client → server writes wait until release(); absent where nothing can wait (then buffered stays 0). */
  stall?(): void;
  release?(): void;
  cleanup(): void;
}

/** Lets every in-memory step that is under way run. Used only to show that nothing MORE comes. */
/** Runs a synchronous peer step behind the Peer interface's promise: a throw becomes a rejection, as from an async function. */
const step = (run: () => unknown) =>
  new Promise<void>((resolve) => {
    run();
    resolve();
  });

const quiet = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 2));
};

// ---------------------------------------------------------------- fake platforms ------------

function webSocketPeer(): Peer {
  const sent: string[] = [];
  let ws: FakeWebSocket;
  let stalled: string[] | null = null;
  const created = (socket: FakeWebSocket) => (ws = socket);
  class FakeWebSocket {
    binaryType = 'blob';
    bufferedAmount = 0;
    onopen: ((e: unknown) => void) | null = null;
    onmessage: ((e: { data: string }) => void) | null = null;
    onclose: ((e: { code: number; reason: string }) => void) | null = null;
    onerror: ((e: unknown) => void) | null = null;
    closed = false;
    constructor(readonly url: string) {
      created(this);
    }
    send(text: string) {
      if (this.closed) return;
      if (stalled) {
        stalled.push(text);
        this.bufferedAmount += text.length;
      } else sent.push(text);
    }
    close(code = 1005, reason = '') {
      // As browsers do: the close event follows, after the closing handshake.
      this.closed = true;
      setTimeout(() => this.onclose?.({ code, reason }), 1);
    }
  }
  return {
    env: { WebSocket: FakeWebSocket as unknown as typeof WebSocket },
    sent,
    accept: () => step(() => ws.closed || ws.onopen?.({})),
    push: (text) => step(() => ws.closed || ws.onmessage?.({ data: text })),
    end: () =>
      step(() => {
        if (ws.closed) return;
        ws.closed = true;
        ws.onclose?.({ code: 1006, reason: '' });
      }),
    stall: () => void (stalled = []),
    release: () => {
      sent.push(...stalled!);
      stalled = null;
      ws.bufferedAmount = 0;
    },
    cleanup() {},
  };
}

interface Request {
  url: URL;
  method: string;
  body: string;
  headers: Record<string, string>;
  signal: AbortSignal | undefined;
  resolve(res: Response): void;
  reject(e: unknown): void;
}

/** fetch() for a peer: client → server writes (POSTs that are not polls) are taken here; the rest wait in `requests`. */
class FakeHttp {
  readonly sent: string[] = [];
  readonly requests: Request[] = [];
  stalled: Request[] | null = null;
  readonly fetch = (input: RequestInfo | URL, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      if (init.signal?.aborted) return reject(new DOMException('aborted', 'AbortError'));
      init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      const req: Request = {
        url: new URL(urlOf(input)),
        method: init.method ?? 'GET',
        body: (init.body as string | undefined) ?? '', // our transports send text
        headers: (init.headers ?? {}) as Record<string, string>,
        signal: init.signal ?? undefined,
        resolve,
        reject,
      };
      if (req.method === 'POST' && !req.url.searchParams.has('wait')) {
        if (this.stalled) return this.stalled.push(req);
        return this.write(req);
      }
      this.requests.push(req);
    });

  write(req: Request): void {
    this.sent.push(...req.body.split('\n'));
    req.resolve(new Response(null, { status: 204 }));
  }

  release(): void {
    const reqs = this.stalled!;
    this.stalled = null;
    for (const r of reqs) this.write(r);
  }

  /** The oldest request not yet answered, once there is one. */
  async next(): Promise<Request> {
    await waitFor(() => this.requests.length > 0, { what: 'a request from the transport', timeout: 1000 });
    return this.requests.shift()!;
  }
}

/** A response body written piece by piece; aborting the request errors it, as fetch does. */
function stream(signal: AbortSignal | undefined) {
  const enc = new TextEncoder();
  let c!: ReadableStreamDefaultController<Uint8Array>;
  let open = true;
  const body = new ReadableStream<Uint8Array>({ start: (ctrl) => void (c = ctrl) });
  signal?.addEventListener('abort', () => {
    if (open) c.error(new DOMException('aborted', 'AbortError'));
    open = false;
  });
  return {
    body,
    write: (text: string) => void (open && c.enqueue(enc.encode(text))),
    end: () => {
      if (open) c.close();
      open = false;
    },
  };
}

const response = (body: BodyInit | null, type: string, status = 200) =>
  new Response(body, { status, headers: { 'content-type': type } });

function eventSourceClass(onCreate: (es: FakeEventSource) => void) {
  return class extends FakeEventSource {
    constructor(url: string) {
      super(url);
      onCreate(this);
    }
  } as unknown as typeof EventSource;
}
class FakeEventSource {
  readyState = 0;
  onopen: ((e: unknown) => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  close() {
    this.readyState = 2;
  }
  get closed() {
    return this.readyState === 2;
  }
}

function ssePeer(plain: boolean): Peer {
  const http = new FakeHttp();
  let es!: FakeEventSource;
  return {
    env: { fetch: http.fetch, EventSource: eventSourceClass((e) => (es = e)) },
    sent: http.sent,
    accept: () =>
      step(() => {
        if (es.closed) return;
        es.readyState = 1;
        if (plain) es.onopen?.({});
        else es.onmessage?.({ data: '{"t":"link","id":"L1"}' });
      }),
    push: (text) => step(() => es.closed || es.onmessage?.({ data: text })),
    end: () =>
      step(() => {
        if (es.closed) return;
        es.readyState = 2;
        es.onerror?.({});
      }),
    stall: () => void (http.stalled = []),
    release: () => http.release(),
    cleanup() {},
  };
}

function fetchStreamPeer(plain: boolean): Peer {
  const http = new FakeHttp();
  let body: ReturnType<typeof stream> | undefined;
  return {
    env: { fetch: http.fetch },
    sent: http.sent,
    async accept() {
      const req = await http.next();
      body = stream(req.signal);
      req.resolve(response(body.body, 'text/event-stream'));
      if (!plain) body.write('data: {"t":"link","id":"L1"}\n\n');
    },
    push: (text) => step(() => body?.write(`data: ${text}\n\n`)),
    end: () => step(() => body?.end()),
    stall: () => void (http.stalled = []),
    release: () => http.release(),
    cleanup: () => body?.end(),
  };
}

function longPollPeer(): Peer {
  const http = new FakeHttp();
  return {
    env: { fetch: http.fetch },
    sent: http.sent,
    async accept() {
      (await http.next()).resolve(response('{"t":"link","id":"L1"}\n', 'application/x-ndjson'));
    },
    async push(text) {
      (await http.next()).resolve(response(`${text}\n`, 'application/x-ndjson'));
    },
    async end() {
      (await http.next()).resolve(response(null, 'text/plain', 404));
    },
    stall: () => void (http.stalled = []),
    release: () => http.release(),
    cleanup() {},
  };
}

function plainPollPeer(): Peer {
  const http = new FakeHttp();
  return {
    env: { fetch: http.fetch },
    sent: http.sent,
    // Not modified: opens the connection, delivers nothing.
    accept: async () => (await http.next()).resolve(new Response(null, { status: 304 })),
    push: async (text) => (await http.next()).resolve(response(text, 'application/json')),
    end: async () => (await http.next()).resolve(response(null, 'text/plain', 500)),
    stall: () => void (http.stalled = []),
    release: () => http.release(),
    cleanup() {},
  };
}

function messagePortPeer(): Peer & { transport: Transport } {
  const sent: string[] = [];
  const ports: MessagePort[] = [];
  let server!: MessagePort;
  const transport = messagePortTransport(() => {
    const { port1, port2 } = new MessageChannel();
    server = port2;
    ports.push(port1, port2);
    server.onmessage = ({ data }: MessageEvent<{ type: 'connect' | 'close' } | { type: 'frame'; text: string }>) => {
      if (data.type === 'frame') sent.push(data.text);
    };
    return port1;
  });
  return {
    transport,
    env: {},
    sent,
    accept: () => step(() => server.postMessage({ type: 'open' })),
    push: (text) => step(() => server.postMessage({ type: 'frame', text })),
    end: () => step(() => server.postMessage({ type: 'close', code: 1006, reason: 'worker gone' })),
    cleanup: () => ports.forEach((p) => p.close()),
  };
}

// ---------------------------------------------------------------- the suite -----------------

interface Case {
  name: string;
  make(): { transport: Transport; peer: Peer };
}

const CASES: Case[] = [
  { name: 'websocket()', make: () => ({ transport: websocket(), peer: webSocketPeer() }) },
  { name: 'sse()', make: () => ({ transport: sse(), peer: ssePeer(false) }) },
  { name: 'fetchStream()', make: () => ({ transport: fetchStream(), peer: fetchStreamPeer(false) }) },
  { name: 'longPoll()', make: () => ({ transport: longPoll(), peer: longPollPeer() }) },
  { name: 'plainSse()', make: () => ({ transport: plainSse(), peer: ssePeer(true) }) },
  { name: 'plainStream()', make: () => ({ transport: plainStream(), peer: fetchStreamPeer(true) }) },
  { name: 'plainPoll()', make: () => ({ transport: plainPoll({ interval: 1 }), peer: plainPollPeer() }) },
  {
    name: 'custom: messagePortTransport() (README "Writing a transport")',
    make: () => {
      const peer = messagePortPeer();
      return { transport: peer.transport, peer };
    },
  },
];

let cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups) c();
  cleanups = [];
});

/** Opens the case's transport, logging every callback in order, and each one made from inside open(). */
function start(c: Case) {
  const { transport, peer } = c.make();
  cleanups.push(() => peer.cleanup());
  const log: string[] = [];
  const duringOpen: string[] = [];
  let opening = true;
  const record = (entry: string) => {
    log.push(entry);
    if (opening) duringOpen.push(entry);
  };
  const h: TransportHandlers = {
    onOpen: () => record('open'),
    onFrame: (text) => record(`frame ${text}`),
    onClose: (code) => record(`close ${code}`),
    onProtocolError: (what) => record(`protocol-error ${what}`),
  };
  const env = resolveEnv(peer.env);
  let conn: Connection;
  try {
    conn = transport.open('http://rt.test/realtime', h, { env, maxFrame: 1 << 20, timeout: 10_000, resume: {} });
  } finally {
    opening = false;
  }
  cleanups.push(() => conn.close(1000, 'test over'));
  return { transport, peer, conn, log, duringOpen };
}

const ended = (entry: string) => entry.startsWith('close') || entry.startsWith('protocol-error');

describe.each(CASES)('transport contract: $name', (c) => {
  it('has a name (any string), and is supported where its globals are', () => {
    const { transport, peer } = c.make();
    cleanups.push(() => peer.cleanup());
    expect(typeof transport.name).toBe('string');
    expect(transport.name.length).toBeGreaterThan(0);
    expect(transport.isSupported(resolveEnv(peer.env))).toBe(true);
  });

  it('calls nothing from inside open(): the client has not got the connection yet', async () => {
    const { duringOpen, peer, log } = start(c);
    expect(duringOpen).toEqual([]);
    await peer.accept();
    await waitFor(() => log.includes('open'), { what: 'onOpen', timeout: 1000 });
  });

  it('reports onOpen once, before any frame, then each frame as it came', async () => {
    const { peer, log } = start(c);
    await peer.accept();
    await peer.push('{"n":1}');
    await peer.push('{"n":2}');
    await waitFor(() => log.length >= 3, { what: 'onOpen and two frames', timeout: 1000 });
    expect(log).toEqual(['open', 'frame {"n":1}', 'frame {"n":2}']);
    await quiet();
    expect(log).toEqual(['open', 'frame {"n":1}', 'frame {"n":2}']);
  });

  it('reports the end of the connection once, and nothing after it', async () => {
    const { peer, log, conn } = start(c);
    await peer.accept();
    await waitFor(() => log.length > 0, { what: 'onOpen', timeout: 1000 });
    expect(log).toEqual(['open']);
    await peer.end();
    await waitFor(() => log.some(ended), { what: 'the end of the connection reported', timeout: 1000 });
    // What may still happen on the way out: the client writes, the server or the platform acts.
    conn.send('{"late":1}');
    await peer.push('{"n":3}').catch(() => {});
    await quiet();
    expect(log.filter(ended)).toHaveLength(1);
    expect(log.slice(log.findIndex(ended) + 1)).toEqual([]);
  });

  it('reports nothing after the client closed it: not the close, not a frame', async () => {
    const { peer, log, conn } = start(c);
    await peer.accept();
    await waitFor(() => log.length > 0, { what: 'onOpen', timeout: 1000 });
    expect(log).toEqual(['open']);
    conn.close(1000, 'bye');
    void peer.push('{"n":4}').catch(() => {});
    void peer.end().catch(() => {});
    await quiet();
    expect(log).toEqual(['open']);
  });

  it('reports nothing when closed before it opened, even if the server then accepts', async () => {
    const { peer, log, conn } = start(c);
    conn.close(1000, 'changed my mind');
    void peer.accept().catch(() => {});
    await quiet();
    expect(log).toEqual([]);
  });

  it('keeps buffered honest: above 0 while a write waits, 0 once everything went out', async () => {
    const { peer, log, conn } = start(c);
    await peer.accept();
    await waitFor(() => log.length > 0, { what: 'onOpen', timeout: 1000 });
    expect(log).toEqual(['open']);
    expect(conn.buffered).toBe(0);
    if (peer.stall) peer.stall();
    conn.send('{"t":"msg","s":1,"d":["hello"]}');
    if (peer.stall) expect(conn.buffered).toBeGreaterThan(0);
    peer.release?.();
    await waitFor(() => peer.sent.includes('{"t":"msg","s":1,"d":["hello"]}'), {
      what: 'the message at the server',
      timeout: 1000,
    });
    await waitFor(() => conn.buffered === 0, { what: 'buffered back to 0', timeout: 1000 });
  });
});

describe("README's custom transport", () => {
  it('is the one this suite runs (test/unit/custom-transport.ts), line for line', async () => {
    const { readFile } = await import('node:fs/promises');
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### Writing a transport'));
    const printed = /```ts\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const tested = await readFile(new URL('./custom-transport.ts', import.meta.url), 'utf8');
    // README imports from the package, the test from the sources; README ends with a usage line.
    const body = (text: string) => {
      const start = text.indexOf('/** What the holder');
      return text.slice(start, text.indexOf('\n});\n', start) + 4);
    };
    expect(printed).toContain("import type { Transport } from 'realtime-client/core';");
    expect(body(printed)).toBe(body(tested));
  });
});
