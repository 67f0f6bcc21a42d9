import { describeEnding, type Conn } from './conn';
import { CaseFailure, check, show } from './errors';
import { hello, messagesOf, type AnyFrame } from './frames';
import type { HttpConn } from './transports/types';

/** The default wait for something the server should send promptly, before scaling. */
export const PROMPT_MS = 3000;

/**
 * A protocol client over one Conn: the session it holds (sid, key) and its own outgoing
 * sequence, so cases read as the exchanges of docs/protocol.md §15.
 */
export class Peer {
  /** Highest client sequence number sent in this session. */
  sent = 0;

  constructor(
    readonly conn: Conn & HttpConn,
    readonly welcome: AnyFrame,
    private readonly wait: number,
  ) {}

  get sid(): string {
    return this.welcome.sid as string; // checked by checkWelcome when the peer connected
  }

  get key(): string {
    return this.welcome.key as string;
  }

  /** Sends hello on `conn` and checks that welcome is the first frame back (§4). */
  static async handshake(conn: Conn & HttpConn, extra: Record<string, unknown>, wait: number): Promise<Peer> {
    await conn.send([hello(extra)]);
    const first = await conn.next(() => true, 'a welcome frame', wait);
    if (first.t !== 'welcome') throw new CaseFailure('welcome as the first frame', show(first));
    return new Peer(conn, first, wait);
  }

  /** Sends application messages as one msg frame, numbered after the last sent. */
  async say(...data: unknown[]): Promise<void> {
    const s = this.sent + 1;
    this.sent += data.length;
    const r = await this.conn.send([{ t: 'msg', s, d: data, a: this.conn.received }]);
    check(
      r.status === 0 || r.status === 204,
      'HTTP 204 for the POST of a msg frame',
      () => `HTTP ${r.status} ${r.body.trim()}`,
    );
  }

  /** The application contract: ask for `n` numbered messages, each padded with `bytes` characters. */
  push(n: number, bytes = 0): Promise<void> {
    return this.say(bytes ? { cmd: 'push', n, bytes } : { cmd: 'push', n });
  }

  /** The application contract: ask the server to end the session with `code` and `reason`. */
  closeBy(code: number, reason: string): Promise<void> {
    return this.say({ cmd: 'close', code, reason });
  }

  /** Application messages received, as [seq, data]. */
  messages(): Array<[number, unknown]> {
    return messagesOf(this.conn.frames);
  }

  /** Data of the received messages that are echoes, in order. */
  echoes(): unknown[] {
    return this.messages()
      .map(([, d]) => d)
      .filter((d): d is { echo: unknown } => typeof d === 'object' && d !== null && 'echo' in d)
      .map((d) => d.echo);
  }

  /** Waits for the echo of `marker`: everything echoed before it has arrived by then. */
  async echoOf(marker: string): Promise<unknown[]> {
    await this.until(() => this.echoes().some((e) => e === marker), `the echo of ${show(marker)}`);
    return this.echoes();
  }

  /** Waits until `cond()` holds, re-checked as frames arrive. */
  async until(cond: () => boolean, what: string, ms = this.wait): Promise<void> {
    await this.conn.until(
      () => {
        if (cond()) return true;
        if (this.conn.ending)
          throw new CaseFailure(what, `the connection ended first (${describeEnding(this.conn.ending)})`);
        return undefined;
      },
      what,
      ms,
    );
  }

  /** Waits until `n` pushed messages (`{push: i}`) have arrived; returns them as [seq, data]. */
  async pushed(n: number): Promise<Array<[number, { push: number }]>> {
    const list = (): Array<[number, { push: number }]> =>
      this.messages().filter(
        (m): m is [number, { push: number }] => typeof m[1] === 'object' && m[1] !== null && 'push' in m[1],
      );
    await this.until(() => list().length >= n, `${n} pushed messages`);
    return list();
  }

  /** Waits for the next frame of type `t`. */
  frame(t: string, ms = this.wait): Promise<AnyFrame> {
    return this.conn.next((f) => f.t === t, `a ${t} frame`, ms);
  }

  /** Ends the session the polite way (close frame 1000), so the server can free it. */
  async bye(): Promise<void> {
    if (this.conn.ending) return;
    await this.conn.send([{ t: 'close', code: 1000, reason: 'case over' }]).catch(() => undefined);
  }
}

/** Fails unless `frame` is a welcome with the fields of §3 and the types they must have. */
export function checkWelcome(w: AnyFrame, transport: string): void {
  const int = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
  check(w.t === 'welcome', 'a welcome frame', () => show(w));
  check(w.v === 1, 'welcome.v = 1', () => show(w.v));
  check(typeof w.sid === 'string' && typeof w.key === 'string', 'string sid and key', () =>
    show({ sid: w.sid, key: w.key }),
  );
  check(typeof w.resumed === 'boolean', 'a boolean resumed', () => show(w.resumed));
  check(int(w.a) && int(w.hb) && int(w.max), 'integers a, hb, max', () => show({ a: w.a, hb: w.hb, max: w.max }));
  check((w.max as number) >= 256, 'max ≥ 256', () => String(w.max));
  check(Array.isArray(w.transports) && w.transports.includes(transport), `transports listing ${transport}`, () =>
    show(w.transports),
  );
}
