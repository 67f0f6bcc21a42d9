// A raw protocol client speaking frames by hand over ws, for the server's own tests: the
// client library is not used, so the server is checked against docs/protocol.md, not the client.
import WebSocket, { type RawData } from 'ws';
import type { Frame, WelcomeFrame } from '../../src/protocol';
import { waitFor } from '../wait';

/** The link frame that opens every HTTP link (docs/protocol.md §14): not part of the WebSocket protocol. */
export interface LinkFrame {
  t: 'link';
  id: string;
}

/** Any frame the server sends, on any transport: what these tests parse off the wire. */
export type AnyFrame = Frame | LinkFrame;
export type FrameType = AnyFrame['t'];
/** The frame of type `T`, e.g. `FrameOf<'msg'>` is MessageFrame. */
export type FrameOf<T extends FrameType> = Extract<AnyFrame, { t: T }>;

/**
 * One frame of server text, typed as the protocol frame its `t` names. A cast, not a check: the
 * tests assert what they rely on, as they did when frames were typed `any`.
 */
export function parseFrame(text: string): AnyFrame {
  return JSON.parse(text) as AnyFrame;
}

/** The first frame of type `t` in `frames`, typed as that frame. */
export function findFrame<T extends FrameType>(frames: readonly AnyFrame[], t: T): FrameOf<T> | undefined {
  return frames.find((f): f is FrameOf<T> => f.t === t);
}

/** A ws message as text (ws hands text frames over as one Buffer unless told otherwise). */
export function wsText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString();
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString();
  return data.toString();
}

export class RawClient {
  readonly ws: WebSocket;
  readonly frames: AnyFrame[] = [];
  readonly raw: string[] = [];
  closed: { code: number; reason: string } | null = null;
  private cursor = 0;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data) => {
      const text = wsText(data);
      this.raw.push(text);
      this.frames.push(parseFrame(text));
    });
    this.ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
    this.ws.on('error', () => {});
  }

  opened(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('close', () => reject(new Error('closed before open')));
    });
  }

  send(frame: object | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Next unread frame (optionally of type `t`), skipping others. */
  next<T extends FrameType>(t: T, timeout?: number): Promise<FrameOf<T>>;
  next(t?: undefined, timeout?: number): Promise<AnyFrame>;
  async next(t?: FrameType, timeout = 3000): Promise<AnyFrame> {
    return waitFor(
      () => {
        while (this.cursor < this.frames.length) {
          const f = this.frames[this.cursor++]!;
          if (!t || f.t === t) return f;
        }
        return undefined;
      },
      { timeout, what: `a ${t ?? 'any'} frame` },
    );
  }

  async hello(extra: object = {}): Promise<WelcomeFrame> {
    await this.opened();
    this.send({ t: 'hello', v: [1], a: 0, ...extra });
    return this.next('welcome');
  }

  async whenClosed(timeout = 3000): Promise<{ code: number; reason: string }> {
    return waitFor(() => this.closed, { timeout, what: 'close' });
  }

  /** All application messages received so far, as [seq, data] pairs. */
  messages(): Array<[number, unknown]> {
    const out: Array<[number, unknown]> = [];
    for (const f of this.frames) if (f.t === 'msg') f.d.forEach((d, i) => out.push([f.s + i, d]));
    return out;
  }

  terminate(): void {
    this.ws.terminate();
  }
}
