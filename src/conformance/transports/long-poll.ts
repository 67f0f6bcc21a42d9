import { FrameLog, type Conn, type Outgoing, type SendOptions, type Sent } from '../conn';
import { CaseFailure } from '../errors';
import { parseFrame } from '../frames';
import { fetchText, type Reply } from '../http';
import type { Target } from '../target';
import { joinFrames, linkUrl, Poster } from './post';
import { baseHeaders, type HttpConn, type TransportDriver } from './types';

/** How long each poll of the kit's own loop may be held (the server caps it by its pollTimeout). */
const POLL_WAIT_MS = 10_000;

/**
 * §14.4: frames queue on the server and come back in the answers to polls, which this connection
 * keeps sending (one held at a time) until the link is over; its own frames go by plain POST.
 */
export class PollConn extends FrameLog implements Conn, HttpConn {
  linkId: string | undefined;
  opening!: { status: number; headers: Record<string, string | string[] | undefined>; firstBytes: string };
  /** Every poll answer: its status and raw body, in order. */
  readonly answers: Reply[] = [];
  private readonly poster: Poster;
  private paused = false;
  private stopped = false;
  private held: AbortController | null = null;

  constructor(private readonly target: Target) {
    super();
    this.poster = new Poster(target, () => this.linkId ?? '');
  }

  async start(url: string, headers: Record<string, string>): Promise<void> {
    const r = await fetchText(url, { headers });
    if (r.status !== 200) throw new CaseFailure('a long-poll link (200)', `HTTP ${r.status} ${r.body.trim()}`);
    this.opening = { status: r.status, headers: r.headers, firstBytes: r.body.slice(0, 16) };
    const first = parseFrame(r.body.split('\n')[0] ?? '');
    if (first?.t !== 'link' || typeof first.id !== 'string')
      throw new CaseFailure('a link frame as the body', JSON.stringify(r.body.slice(0, 100)));
    this.linkId = first.id;
    void this.loop();
  }

  /** One poll: its body carries `frames`; answered frames are recorded like any others. */
  async poll(wait: number, frames: Outgoing[] = [], signal?: AbortSignal): Promise<Reply> {
    const body = joinFrames(frames);
    const headers = baseHeaders(this.target, { 'Content-Type': 'text/plain;charset=UTF-8' });
    const reply = await fetchText(linkUrl(this.target, this.linkId ?? '', wait), {
      method: 'POST',
      headers,
      body,
      ...(signal ? { signal } : {}),
    });
    this.answers.push(reply);
    if (reply.status === 200) for (const line of reply.body.split('\n')) if (line.trim()) this.take(line);
    return reply;
  }

  private async loop(): Promise<void> {
    while (!this.stopped && !this.ending?.gone) {
      if (this.paused) {
        await this.until(() => (!this.paused || this.stopped ? true : undefined), 'polling to resume', 2 ** 31 - 1);
        continue;
      }
      const abort = (this.held = new AbortController());
      let reply: Reply;
      try {
        reply = await this.poll(POLL_WAIT_MS, [], abort.signal);
      } catch {
        if (abort.signal.aborted) continue; // the kit aborted it on purpose (pause, cut)
        this.finish({ gone: true });
        return;
      } finally {
        this.held = null;
      }
      if (reply.status !== 200) this.finish({ code: reply.status, reason: reply.body.trim(), gone: true });
      // After its close frame the server forgets the link (§14.4 point 6).
      else if (this.ending?.frame) this.finish({ gone: true });
    }
  }

  /** Stops polling and aborts the poll held now, if any: the server sees a client gone quiet. */
  pause(): void {
    this.paused = true;
    this.held?.abort();
  }

  resume(): void {
    this.paused = false;
    this.wake();
  }

  send(frames: Outgoing[], options?: SendOptions): Promise<Sent> {
    return this.poster.post(frames, options);
  }

  protected sendQuietly(frames: Outgoing[]): void {
    this.poster.post(frames).catch(() => {});
  }

  override async silence(ms: number): Promise<void> {
    this.pause();
    await super.silence(ms);
    this.resume();
  }

  cut(): void {
    this.stopped = true;
    this.held?.abort();
    this.finish({ gone: true });
  }
}

export const longPoll: TransportDriver = {
  name: 'long-poll',
  http: true,
  stream: false,
  polls: true,
  closeCodes: false,
  async open(target, headers = {}) {
    const conn = new PollConn(target);
    await conn.start(`${target.http}?transport=long-poll`, baseHeaders(target, headers));
    return conn;
  },
};
