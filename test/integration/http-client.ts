// Hand-made clients for the HTTP transports (docs/protocol.md §14): fetch and node:http, no
// client library, so the server is checked against the protocol, not against our client.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { expect } from 'vitest';
import { waitFor } from '../wait';
import { findFrame, parseFrame, type AnyFrame, type FrameOf, type FrameType } from './raw-client';

export interface SseEvent {
  id?: string;
  data?: string;
  comment?: string;
}

/** An SSE / fetch-stream link read with fetch, events parsed by hand. */
export class StreamClient {
  readonly events: SseEvent[] = [];
  raw = '';
  ended = false;
  res!: Response;
  readonly abort = new AbortController();
  private cursor = 0;

  static async open(base: string, transport = 'sse', headers: Record<string, string> = {}): Promise<StreamClient> {
    const c = new StreamClient();
    openStreams.add(c);
    c.res = await fetch(`${base}?transport=${transport}`, {
      headers: { Accept: 'text/event-stream', ...headers },
      signal: c.abort.signal,
    });
    void c.read();
    return c;
  }

  private async read(): Promise<void> {
    const reader = this.res.body!.getReader();
    const decoder = new TextDecoder();
    let pending = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        this.raw += text;
        pending += text;
        let i: number;
        while ((i = pending.indexOf('\n\n')) >= 0) {
          const block = pending.slice(0, i);
          pending = pending.slice(i + 2);
          const ev: SseEvent = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) ev.comment = line.slice(1);
            else if (line.startsWith('id: ')) ev.id = line.slice(4);
            else if (line.startsWith('data: ')) ev.data = (ev.data === undefined ? '' : ev.data + '\n') + line.slice(6);
          }
          this.events.push(ev);
        }
      }
    } catch {
      // aborted
    }
    this.ended = true;
  }

  /** Data events parsed as frames. */
  frames(): AnyFrame[] {
    return this.events.filter((e) => e.data !== undefined).map((e) => parseFrame(e.data!));
  }

  async linkId(): Promise<string> {
    const f = await waitFor(() => this.frames()[0], { what: 'link event' });
    expect(f.t).toBe('link');
    return (f as FrameOf<'link'>).id;
  }

  /** Next unread frame (of type `t`, skipping others). */
  next<T extends FrameType>(t: T): Promise<FrameOf<T>>;
  next(t?: undefined): Promise<AnyFrame>;
  async next(t?: FrameType): Promise<AnyFrame> {
    return waitFor(
      () => {
        const frames = this.frames();
        while (this.cursor < frames.length) {
          const f = frames[this.cursor++]!;
          if (f.t !== 'link' && (!t || f.t === t)) return f;
        }
        return undefined;
      },
      { what: `a ${t ?? 'any'} frame` },
    );
  }

  /** msg events, with their SSE id. */
  msgEvents(): Array<{ id?: string; frame: FrameOf<'msg'> }> {
    return this.events
      .filter((e) => e.data?.startsWith('{"t":"msg"'))
      .map((e) => ({ id: e.id, frame: parseFrame(e.data!) as FrameOf<'msg'> }));
  }
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request with node:http (lets tests set any header, Origin included). */
export function raw(method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: { Connection: 'close', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const TEXT = { 'Content-Type': 'text/plain;charset=UTF-8' };

/** POST frames to a link (no wait: a plain send). */
export async function post(base: string, link: string, ...frames: Array<object | string>): Promise<Response> {
  const body = frames.map((f) => (typeof f === 'string' ? f : JSON.stringify(f))).join('\n');
  return fetch(`${base}?link=${encodeURIComponent(link)}`, { method: 'POST', headers: TEXT, body });
}

/** A long-poll link: the link GET, then polls. */
export class PollClient {
  id = '';
  readonly frames: AnyFrame[] = [];
  constructor(readonly base: string) {}

  async open(): Promise<this> {
    const res = await fetch(`${this.base}?transport=long-poll`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.text();
    expect(body.endsWith('\n')).toBe(true);
    const f = parseFrame(body.split('\n')[0]!);
    expect(f.t).toBe('link');
    this.id = (f as FrameOf<'link'>).id;
    return this;
  }

  /** One poll; resolves with its frames (also collected in `frames`). */
  async poll(wait: number, ...body: object[]): Promise<{ status: number; frames: AnyFrame[]; text: string }> {
    const res = await fetch(`${this.base}?link=${this.id}&wait=${wait}`, {
      method: 'POST',
      headers: TEXT,
      body: body.map((f) => JSON.stringify(f)).join('\n'),
    });
    const text = await res.text();
    if (res.status !== 200) return { status: res.status, frames: [], text };
    expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    const frames = text
      .split('\n')
      .filter((l) => l)
      .map(parseFrame);
    this.frames.push(...frames);
    return { status: res.status, frames, text };
  }

  /** Polls until a frame of type `t` arrives. */
  async until<T extends FrameType>(t: T): Promise<FrameOf<T>> {
    for (let i = 0; i < 50; i++) {
      const { status, frames } = await this.poll(2000);
      expect(status).toBe(200);
      const f = findFrame(frames, t);
      if (f) return f;
    }
    throw new Error(`no ${t} frame`);
  }
}

export const HELLO = { t: 'hello', v: [1], a: 0 };

const openStreams = new Set<StreamClient>();

/** Aborts every stream opened so far (for afterEach). */
export function abortStreams(): void {
  for (const s of openStreams) s.abort.abort();
  openStreams.clear();
}
