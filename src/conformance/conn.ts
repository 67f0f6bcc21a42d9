import { CaseFailure, TimedOut } from './errors';
import { byteLength, parseFrame, type AnyFrame } from './frames';

/** How a connection ended, as far as the kit saw. */
export interface Ending {
  /** The close frame the server sent, if any. */
  frame?: { code: number; reason: string };
  /** The transport's own close code (WebSocket) or HTTP status that ended the link, if any. */
  code?: number;
  reason?: string;
  /** The transport itself is gone (socket closed, stream ended, link answered its last poll). */
  gone?: boolean;
}

/** What a POST of frames (or a WebSocket send) got: the HTTP status, 0 over WebSocket. */
export interface Sent {
  status: number;
  body: string;
}

export interface SendOptions {
  /** Extra request headers (HTTP transports; ignored over WebSocket). */
  headers?: Record<string, string>;
}

/**
 * One connection to the server at the frame level, whatever the transport: what the cases
 * talk to. It sends anything, valid or not, and records everything the server sends.
 */
export interface Conn {
  /** Frames received, in order (the HTTP link frame excluded). */
  readonly frames: readonly AnyFrame[];
  /** Texts received that were not frames (not a JSON object with a string t). */
  readonly garbage: readonly string[];
  /** Size in bytes of the largest frame received. */
  readonly largest: number;
  /** Highest server sequence number received without a gap (what the auto-pong acknowledges). */
  readonly received: number;
  /** The HTTP link id, or undefined over WebSocket. */
  readonly linkId: string | undefined;
  /** Set once the connection is over. */
  readonly ending: Ending | null;
  /** Answer each ping with a pong carrying `received` (default on, as a real client does). */
  autoPong: boolean;
  /**
   * Send frames: one WebSocket message each, or one POST body (frames joined by \n). `hello`
   * carries the target's token, as a real client would send it on this transport.
   */
  send(frames: Outgoing[], options?: SendOptions): Promise<Sent>;
  /** The next frame not yet taken that satisfies `match`; frames before it are taken too. */
  next(match: (f: AnyFrame) => boolean, what: string, ms: number): Promise<AnyFrame>;
  /** Waits until `probe` returns a value, re-checked whenever something arrives; fails after `ms`. */
  until<T>(probe: () => T | undefined, what: string, ms: number): Promise<T>;
  /** Resolves once the connection is over (close frame seen, or the transport ended). */
  ended(ms: number): Promise<Ending>;
  /** Resolves once the transport itself is gone (after the close frame, if one came). */
  gone(ms: number): Promise<Ending>;
  /** Sends nothing at all for `ms` (no pong, no poll), or until the connection ends. */
  silence(ms: number): Promise<void>;
  /** Drops the connection abruptly, as a network failure would. */
  cut(): void;
  /** Closes with a transport close code of the kit's own and no close frame (transports that have codes). */
  closeWith?(code: number, reason?: string): void;
  /** Sends bytes as one binary message (transports that have them). */
  sendBinary?(bytes: Buffer): void;
}

/** A frame to send: an object to serialise, a text as it is (bad frames), or raw bytes (bad UTF-8). */
export type Outgoing = object | string | Buffer;

/** The bookkeeping every transport shares: frames in, waits, endings. */
export abstract class FrameLog {
  readonly frames: AnyFrame[] = [];
  readonly garbage: string[] = [];
  largest = 0;
  received = 0;
  autoPong = true;
  ending: Ending | null = null;
  private cursor = 0;
  private readonly waiters = new Set<() => void>();

  /** Called by the transport with each frame's text, in order. */
  protected take(text: string): void {
    const frame = parseFrame(text);
    this.largest = Math.max(this.largest, byteLength(text));
    if (!frame) this.garbage.push(text);
    else this.record(frame);
    this.wake();
  }

  private record(frame: AnyFrame): void {
    this.frames.push(frame);
    const { s, d } = frame;
    if (
      frame.t === 'msg' &&
      typeof s === 'number' &&
      Number.isSafeInteger(s) &&
      Array.isArray(d) &&
      s <= this.received + 1
    ) {
      this.received = Math.max(this.received, s + d.length - 1);
    }
    // As sent, whatever their kinds: the cases check them.
    if (frame.t === 'close' && !this.ending)
      this.finish({ frame: { code: frame.code as number, reason: frame.reason as string } });
    if (frame.t === 'ping' && this.autoPong && !this.ending) this.pong();
  }

  /** Sends the pong a ping asks for; a failure is the connection's end, seen elsewhere. */
  protected pong(): void {
    this.sendQuietly([{ t: 'pong', a: this.received }]);
  }

  protected abstract sendQuietly(frames: Outgoing[]): void;

  /** The connection is over (first call wins, later details are merged in). */
  protected finish(ending: Ending): void {
    this.ending = { ...ending, ...this.ending, frame: this.ending?.frame ?? ending.frame };
    this.wake();
  }

  protected wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Waits until `probe` returns a value (re-checked on every event), or fails after `ms`. */
  until<T>(probe: () => T | undefined, what: string, ms: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        let value: T | undefined;
        try {
          value = probe();
        } catch (err) {
          done();
          return reject(err);
        }
        if (value === undefined) return;
        done();
        resolve(value);
      };
      const timer = setTimeout(() => {
        done();
        reject(new TimedOut(what, ms));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  next(match: (f: AnyFrame) => boolean, what: string, ms: number): Promise<AnyFrame> {
    return this.until(
      () => {
        while (this.cursor < this.frames.length) {
          const f = this.frames[this.cursor++]!;
          if (match(f)) return f;
        }
        if (this.ending) throw new CaseFailure(what, `the connection ended first (${describeEnding(this.ending)})`);
        return undefined;
      },
      what,
      ms,
    );
  }

  ended(ms: number): Promise<Ending> {
    return this.until(() => this.ending ?? undefined, 'the connection to end', ms);
  }

  gone(ms: number): Promise<Ending> {
    return this.until(() => (this.ending?.gone ? this.ending : undefined), 'the transport to close', ms);
  }

  /** Resolves after `ms`, or earlier once the connection ends. */
  protected wait(ms: number): Promise<void> {
    return this.until(() => (this.ending ? true : undefined), '', ms).then(
      () => undefined,
      () => undefined,
    );
  }

  async silence(ms: number): Promise<void> {
    const before = this.autoPong;
    this.autoPong = false;
    await this.wait(ms);
    this.autoPong = before;
  }
}

/** A one-line account of how a connection ended. */
export function describeEnding(e: Ending): string {
  const parts: string[] = [];
  if (e.frame) parts.push(`close frame ${e.frame.code} ${JSON.stringify(e.frame.reason)}`);
  if (e.code !== undefined) parts.push(`transport closed ${e.code}${e.reason ? ` ${JSON.stringify(e.reason)}` : ''}`);
  return parts.join(', ') || 'connection lost';
}
