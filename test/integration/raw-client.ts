// A raw protocol client speaking frames by hand over ws, for the server's own tests: the
// client library is not used, so the server is checked against docs/protocol.md, not the client.
import WebSocket from 'ws';
import { waitFor } from '../wait';

export type AnyFrame = { t: string; [k: string]: any };

export class RawClient {
  readonly ws: WebSocket;
  readonly frames: AnyFrame[] = [];
  readonly raw: string[] = [];
  closed: { code: number; reason: string } | null = null;
  private cursor = 0;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data) => {
      const text = data.toString();
      this.raw.push(text);
      this.frames.push(JSON.parse(text));
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
  async next(t?: string, timeout = 3000): Promise<AnyFrame> {
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

  async hello(extra: object = {}): Promise<AnyFrame> {
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
    for (const f of this.frames) if (f.t === 'msg') f.d.forEach((d: unknown, i: number) => out.push([f.s + i, d]));
    return out;
  }

  terminate(): void {
    this.ws.terminate();
  }
}
