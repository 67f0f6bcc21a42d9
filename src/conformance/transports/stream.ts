import type { IncomingMessage } from 'node:http';
import { FrameLog, type Conn, type Outgoing, type SendOptions, type Sent } from '../conn';
import { CaseFailure } from '../errors';
import { parseFrame } from '../frames';
import { begin, readBody } from '../http';
import type { Target } from '../target';
import { Poster } from './post';
import { baseHeaders, type HttpConn, type TransportDriver } from './types';

/** One text/event-stream event as received (§14.2). */
export interface StreamEvent {
  id?: string;
  data?: string;
  comment?: string;
}

/** §14.2: frames arrive as events on one long response; frames go out in POSTs (§14.3). */
export class StreamConn extends FrameLog implements Conn, HttpConn {
  readonly events: StreamEvent[] = [];
  /** Every byte of the response body, as text. */
  raw = '';
  linkId: string | undefined;
  opening!: { status: number; headers: Record<string, string | string[] | undefined>; firstBytes: string };
  private readonly poster: Poster;
  private readonly abort = new AbortController();

  constructor(target: Target) {
    super();
    this.poster = new Poster(target, () => this.linkId ?? '');
  }

  /** Sends the GET and waits for the link frame. */
  async start(url: string, headers: Record<string, string>): Promise<void> {
    const { response } = begin(url, { headers, signal: this.abort.signal });
    const res = await response;
    if (res.statusCode !== 200) {
      const body = await readBody(res).catch(() => '');
      throw new CaseFailure('a stream link (200)', `HTTP ${res.statusCode} ${body.trim()}`);
    }
    this.opening = { status: 200, headers: res.headers, firstBytes: '' };
    this.read(res);
    await this.until(() => this.linkId, 'the link frame', 10_000);
  }

  private read(res: IncomingMessage): void {
    let pending = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.raw += chunk;
      if (this.opening.firstBytes.length < 16) this.opening.firstBytes = this.raw.slice(0, 16);
      pending += chunk.replace(/\r\n?/g, '\n');
      for (let i = pending.indexOf('\n\n'); i >= 0; i = pending.indexOf('\n\n')) {
        this.event(pending.slice(0, i));
        pending = pending.slice(i + 2);
      }
    });
    const over = (): void => this.finish({ gone: true });
    res.once('end', over);
    res.once('close', over);
    res.once('error', over);
  }

  private event(block: string): void {
    const ev: StreamEvent = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) ev.comment = line.slice(1);
      else if (line.startsWith('id:')) ev.id = line.slice(3).replace(/^ /, '');
      else if (line.startsWith('data:'))
        ev.data = (ev.data === undefined ? '' : `${ev.data}\n`) + line.slice(5).replace(/^ /, '');
    }
    this.events.push(ev);
    if (ev.data === undefined) return this.wake();
    if (this.linkId === undefined) {
      const f = parseFrame(ev.data);
      if (f?.t === 'link' && typeof f.id === 'string') {
        this.linkId = f.id;
        return this.wake();
      }
    }
    this.take(ev.data);
  }

  send(frames: Outgoing[], options?: SendOptions): Promise<Sent> {
    return this.poster.post(frames, options);
  }

  protected sendQuietly(frames: Outgoing[]): void {
    this.poster.post(frames).catch(() => {});
  }

  cut(): void {
    this.abort.abort();
  }
}

/** `sse` and `fetch-stream` are the same link on the server (§14.2); only the name differs. */
function streamDriver(name: 'sse' | 'fetch-stream'): TransportDriver {
  return {
    name,
    http: true,
    stream: true,
    polls: false,
    closeCodes: false,
    async open(target, headers = {}) {
      const conn = new StreamConn(target);
      await conn.start(
        `${target.http}?transport=${name}`,
        baseHeaders(target, { Accept: 'text/event-stream', ...headers }),
      );
      return conn;
    },
  };
}

export const sse = streamDriver('sse');
export const fetchStream = streamDriver('fetch-stream');
