import { Server, WebSocket as MockWebSocket, type Client } from 'mock-socket';
import { expect, vi } from 'vitest';
import type { Env } from '../../src/client/env';
import type { OpenContext, Transport, TransportHandlers } from '../../src/client/transports/types';
import type { Frame, HelloFrame, WelcomeFrame } from '../../src/protocol';

let n = 0;
/** A URL no other test uses, since mock-socket keeps one server per URL. */
export const freshUrl = (): string => `ws://mock.test/rt${++n}`;

/** Platform doubles: the client sees only these, never happy-dom's globals by accident. */
export function testEnv(over: Partial<Env> = {}) {
  const window = new EventTarget();
  const document = new EventTarget();
  const navigator = { onLine: true };
  // A fresh store per client, so no test inherits a transport another test remembered.
  const store = new Map<string, string>();
  const storage = {
    getItem: (k: string) => store.get(k) ?? null,
    setItem: (k: string, v: string) => void store.set(k, v),
    removeItem: (k: string) => void store.delete(k),
  };
  return Object.assign(
    {
      WebSocket: MockWebSocket,
      window,
      document,
      navigator,
      storage,
      random: () => 0.5,
    },
    over,
  );
}

/** Lets mock-socket's 4 ms delivery delays and our microtasks run, without reaching ack or retry timers. */
export const settle = (ms = 10) => vi.advanceTimersByTimeAsync(ms);

/**
 * A protocol v1 peer on mock-socket, written from docs/protocol.md by hand so that the client's
 * codec is not testing itself.
 */
export class MockV1 {
  readonly server: Server;
  sockets: Client[] = [];
  /** Every frame the client sent, parsed (the client's frames are protocol frames by contract). */
  frames: Frame[] = [];
  hellos: HelloFrame[] = [];
  /** Application messages the server received, in order, without duplicates. */
  messages: unknown[] = [];
  received = 0;
  sent = 0;
  autoAck = true;
  resumable = true;
  welcome: Record<string, unknown> = {};
  /** Raw frames sent right after every welcome, as a broken server would. */
  afterWelcome: string[] = [];
  /** Every message frame text this server sent, for replay. */
  outbox: string[] = [];

  constructor(readonly url: string) {
    this.server = new Server(url);
    this.server.on('connection', (s) => {
      this.sockets.push(s);
      s.on('message', (raw) => {
        if (typeof raw !== 'string') return; // binary: plain mode, not ours to parse
        try {
          this.onFrame(s, JSON.parse(raw) as Frame);
        } catch {} // plain mode: not ours to parse
      });
    });
  }

  get socket(): Client {
    return this.sockets[this.sockets.length - 1]!;
  }

  private onFrame(s: Client, f: Frame) {
    this.frames.push(f);
    if (f.t === 'hello') {
      this.hellos.push(f);
      const resumed = !!f.sid && this.resumable;
      if (!resumed) this.received = 0;
      // Deferred as a network would: mock-socket loses frames sent from inside its own dispatch.
      const welcome = JSON.stringify({
        t: 'welcome',
        v: 1,
        sid: 'sid-1',
        key: 'key-1',
        resumed,
        a: this.received,
        hb: 1000,
        max: 4096,
        transports: ['websocket'],
        ...this.welcome,
      });
      setTimeout(() => {
        s.send(welcome);
        for (const text of this.afterWelcome) s.send(text);
      }, 1);
    }
    if (f.t === 'msg') {
      f.d.forEach((d: unknown, i: number) => {
        if (f.s + i === this.received + 1) {
          this.messages.push(d);
          this.received++;
        }
      });
      if (this.autoAck) this.ack();
    }
  }

  ack(s = this.socket) {
    s.send(JSON.stringify({ t: 'ack', a: this.received }));
  }

  /** Sends application messages as one frame with the next sequence numbers. */
  push(...data: unknown[]) {
    const text = JSON.stringify({ t: 'msg', s: this.sent + 1, d: data });
    this.sent += data.length;
    this.socket.send(text);
  }

  raw(text: string) {
    this.socket.send(text);
  }

  /** Drops the connection as a network failure would (1006). */
  drop(code = 1006) {
    this.socket.close({ code, reason: 'dropped', wasClean: false });
  }

  /** The server goes away: open connections drop and new ones are refused. */
  stop() {
    for (const s of this.sockets) s.close({ code: 1006, reason: 'gone', wasClean: false });
    this.server.stop();
  }
}

/**
 * `expect.stringContaining` and `expect.stringMatching` for use inside an expected object: Vitest
 * types its asymmetric matchers as `any`, which would leave the whole expected value untyped.
 */
export const containing = (text: string): unknown => expect.stringContaining(text);
export const matching = (pattern: RegExp): unknown => expect.stringMatching(pattern);

/** The URL a fetch() double was asked for (our transports pass a string or a URL, never a Request). */
export const urlOf = (input: RequestInfo | URL): string => (input instanceof Request ? input.url : String(input));

/** Runs fake time forward in small steps until `p` settles (or `ms` pass), then returns it. */
export async function within<T>(p: Promise<T>, ms = 2000): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let t = 0; t < ms && !done; t += 5) await vi.advanceTimersByTimeAsync(5);
  return p;
}

/** A transport whose every move the test makes by hand; `closed[i]` is set when the client closes connection i. */
export function scripted(name: Transport['name'], auth?: Transport['auth']) {
  const opened: TransportHandlers[] = [];
  const contexts: OpenContext[] = [];
  const sent: string[] = [];
  const closed: Array<{ code: number; reason: string } | undefined> = [];
  const t: Transport = {
    name,
    auth,
    isSupported: () => true,
    open(_url, h, ctx) {
      const i = opened.push(h) - 1;
      contexts.push(ctx);
      closed.push(undefined);
      return { send: (x) => sent.push(x), close: (code, reason) => (closed[i] = { code, reason }), buffered: 0 };
    },
  };
  return { t, opened, contexts, sent, closed };
}

/** A welcome frame's text for session s/k, new, nothing received; `over` changes fields. */
export const welcomeText = (over: Partial<WelcomeFrame> = {}): string =>
  JSON.stringify({
    t: 'welcome',
    v: 1,
    sid: 's',
    key: 'k',
    resumed: false,
    a: 0,
    hb: 1000,
    max: 1000,
    transports: [],
    ...over,
  });
