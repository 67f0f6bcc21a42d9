import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Link } from '../link';
import { newLinkId, newRequests, type HttpLink, type HttpLinkKind } from './link';

/** docs/protocol.md §14.2, rule 1. */
const STREAM_HEADERS: OutgoingHttpHeaders = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
  Connection: 'keep-alive',
};

/**
 * `sse` and `fetch-stream` (docs/protocol.md §14.2): one long response in text/event-stream
 * framing. The two names differ only in how the client reads the stream.
 */
class StreamLink implements HttpLink {
  readonly id = newLinkId();
  link!: Link;
  registered = true;
  readonly requests = newRequests();
  private ended = false;
  private lastWrite = Date.now();
  private heartbeatTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly res: ServerResponse,
    /** `streamHeartbeat`: a `:` comment after this many ms without writing. */
    private readonly every: number,
    private readonly forget: (l: HttpLink) => void,
  ) {}

  start(): void {
    const res = this.res;
    res.writeHead(200, STREAM_HEADERS);
    res.on('close', () => {
      if (this.ended) return;
      // The client went away (aborted the request, network failure): a link drop, the session stays resumable.
      this.end();
      this.link.transportClosed();
    });
    res.socket?.setNoDelay(true);
    // The comment is the first byte at once, so a client can tell a buffering proxy from a quiet link.
    this.write(':ok\n\n');
    this.write(`data: {"t":"link","id":"${this.id}"}\n\n`);
    this.armHeartbeat();
  }

  send(text: string, lastSeq?: number): void {
    if (!this.ended) this.write(lastSeq === undefined ? `data: ${text}\n\n` : `id: ${lastSeq}\ndata: ${text}\n\n`);
  }

  close(): void {
    if (this.ended) return;
    this.end();
    this.res.end();
  }

  terminate(): void {
    if (this.ended) return;
    this.end();
    this.res.destroy();
  }

  get bufferedAmount(): number {
    return this.ended ? 0 : this.res.writableLength;
  }

  shutdown(): void {
    this.close();
  }

  private write(chunk: string): void {
    if (this.res.destroyed || this.res.writableEnded) return;
    this.lastWrite = Date.now();
    this.res.write(chunk);
  }

  private end(): void {
    this.ended = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
    if (!this.registered) return;
    this.registered = false;
    this.forget(this);
  }

  /** A `:` comment after `every` ms without writing anything, so proxies do not cut an idle stream. */
  private armHeartbeat(): void {
    this.heartbeatTimer = setTimeout(
      () => {
        this.heartbeatTimer = null;
        if (this.ended) return;
        if (Date.now() - this.lastWrite >= this.every) this.write(':\n\n');
        this.armHeartbeat();
      },
      Math.max(0, this.lastWrite + this.every - Date.now()) + 1,
    );
    this.heartbeatTimer.unref?.();
  }
}

export const streamLinks: HttpLinkKind = {
  create: (res, options, forget) => new StreamLink(res, options.streamHeartbeat, forget),
};
