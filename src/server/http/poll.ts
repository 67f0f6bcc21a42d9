import type { ServerResponse } from 'node:http';
import type { Link } from '../link';
import { newLinkId, newRequests, type HttpLink, type HttpLinkKind, type Poll, type Polls } from './link';
import { NDJSON, type Responder } from './respond';

/** A long-poll link with no poll for `pollTimeout` + this many ms is dropped. */
export const POLL_GRACE_MS = 10_000;

/**
 * `long-poll` (docs/protocol.md §14.4): frames queue in the link and leave in the answer to the
 * next (held) poll.
 */
class PollLink implements HttpLink, Polls {
  readonly id = newLinkId();
  link!: Link;
  registered = true;
  readonly requests = newRequests();
  readonly polls: Polls = this;
  private queue: string[] = [];
  private queuedBytes = 0;
  /** The latest poll, while unanswered. */
  private poll: Poll | null = null;
  /** The server closed the link: deliver what is queued (the close frame) to the next poll, then forget it. */
  private closing = false;
  private dropTimer: ReturnType<typeof setTimeout> | null = null;
  private answerQueued: ReturnType<typeof setImmediate> | null = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly pollTimeout: number,
    private readonly forget: (l: HttpLink) => void,
  ) {
    this.armDrop();
  }

  /** The GET that opened the link is answered at once, with the link frame. */
  start(): void {
    const body = `{"t":"link","id":"${this.id}"}\n`;
    this.res.writeHead(200, {
      'Content-Type': NDJSON,
      'Cache-Control': 'no-store',
      'Content-Length': Buffer.byteLength(body),
    });
    this.res.end(body);
  }

  send(text: string): void {
    if (!this.registered || this.closing) return;
    this.queue.push(text);
    this.queuedBytes += Buffer.byteLength(text);
    if (this.poll?.held) this.answerSoon();
  }

  close(_code: number, _reason: string, announced: boolean): void {
    if (!this.registered || this.closing) return;
    this.closing = true;
    if (this.poll?.held) this.answer(this.poll);
    // Replaced by a resume, or left by the client: nobody will poll for what is queued, so
    // release the link now (a poll still arriving gets 404), not when the drop timer runs out.
    else if (!announced || (!this.poll && this.queue.length === 0)) this.release();
    // else: the pending poll, or the next one, carries the close frame.
  }

  terminate(): void {
    const poll = this.poll;
    this.release();
    poll?.responder.cut();
  }

  get bufferedAmount(): number {
    return this.queuedBytes;
  }

  shutdown(): void {
    if (this.poll) this.answer(this.poll);
    this.release();
  }

  begin(responder: Responder, wait: number): Poll {
    if (this.dropTimer) clearTimeout(this.dropTimer);
    this.dropTimer = null;
    // A new poll answers the previous one at once with whatever is queued, and takes over.
    if (this.poll) this.answer(this.poll);
    const poll: Poll = { responder, wait, held: false, answered: false, timer: null };
    this.poll = poll;
    responder.onClose(() => {
      if (poll.answered) return;
      // Aborted by the client: the queue stays for the next poll.
      poll.answered = true;
      if (poll.timer) clearTimeout(poll.timer);
      if (this.poll === poll) {
        this.poll = null;
        if (this.registered) this.armDrop();
      }
    });
    return poll;
  }

  hold(poll: Poll): void {
    if (poll.answered) return;
    if (this.closing || !this.registered) return this.answer(poll);
    poll.held = true;
    if (this.queue.length > 0) return this.answerSoon();
    if (poll.wait === 0) return this.answer(poll);
    poll.timer = setTimeout(() => this.answer(poll), Math.min(poll.wait, this.pollTimeout));
    poll.timer.unref?.();
  }

  /**
   * Answer after the current turn of the event loop, so frames written together (welcome and
   * the replay after it, a batch of acks and messages) leave in one response.
   */
  private answerSoon(): void {
    if (this.answerQueued) return;
    this.answerQueued = setImmediate(() => {
      this.answerQueued = null;
      if (this.poll?.held) this.answer(this.poll);
    });
  }

  private answer(poll: Poll): void {
    if (poll.answered) return;
    poll.answered = true;
    if (poll.timer) clearTimeout(poll.timer);
    if (this.poll === poll) this.poll = null;
    // A poll whose request is already over (its client gone, or refused) takes nothing: what is
    // queued waits for the next poll or the resume (§14.4), rather than leave for no one.
    if (!poll.responder.done) {
      const body = this.queue.length ? this.queue.join('\n') + '\n' : '';
      this.queue = [];
      this.queuedBytes = 0;
      poll.responder.answer(
        200,
        { 'Content-Type': NDJSON, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) },
        body,
      );
    }
    if (this.closing) this.release();
    else if (!this.poll && this.registered) this.armDrop();
  }

  /** No poll for `pollTimeout` + grace: the client is gone, a link drop (the session stays resumable). */
  private armDrop(): void {
    if (this.dropTimer) clearTimeout(this.dropTimer);
    this.dropTimer = setTimeout(() => {
      this.dropTimer = null;
      this.release();
      this.link.transportClosed();
    }, this.pollTimeout + POLL_GRACE_MS);
    this.dropTimer.unref?.();
  }

  /** Over: timers stopped, and forgotten by the router. */
  private release(): void {
    if (this.dropTimer) clearTimeout(this.dropTimer);
    if (this.answerQueued) clearImmediate(this.answerQueued);
    this.dropTimer = this.answerQueued = null;
    if (this.poll?.timer) clearTimeout(this.poll.timer);
    if (!this.registered) return;
    this.registered = false;
    this.forget(this);
  }
}

export const pollLinks: HttpLinkKind = {
  create: (res, options, forget) => new PollLink(res, options.pollTimeout, forget),
};
