import { CloseCode, type Frame } from '../protocol';
import { faults } from './faults';
import type { Link } from './link';
import type { SessionState } from './state/types';
import type { LinkWriter } from './writer';

/**
 * The client→server half of a session (docs/protocol.md §7-§11): each frame of its current link,
 * client messages delivered once and in order however often they are resent, and the client's
 * acks checked against what was written.
 */

/** What the inbound half needs from its session. */
export interface InboundHost {
  readonly store: SessionState;
  readonly closed: boolean;
  /** Whether `link` is the one carrying the session now (an await may have seen it replaced). */
  holds(link: Link): boolean;
  /** One client message, in order, for the app. */
  deliver(data: unknown, seq: number): void;
  end(code: number, reason: string): void;
  detach(link: Link): void;
  /** A newer link took the session on another process. */
  replaced(link: Link): void;
  /** The state could not be read or written. */
  failed(link: Link, err: unknown): void;
}

/** Whether a WebSocket endpoint may send `code` in a close frame (RFC 6455 §7.4; 1004-1006 and 1015 are reserved). */
function sendableCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
      (code >= 3000 && code <= 4999))
  );
}

export class Inbound {
  /** Highest client seq delivered and recorded: what an ack (standalone, or `a` on any frame) may cover. */
  inSeq = 0;

  constructor(private readonly session: InboundHost) {}

  /** One decoded frame from the session's current link, whose writer is `writer`. */
  async handle(frame: Frame, link: Link, writer: LinkWriter): Promise<void> {
    try {
      switch (frame.t) {
        case 'msg':
          if (frame.a !== undefined && !(await this.acknowledged(frame.a, link, writer))) return;
          return await this.receive(frame.s, frame.d, link, writer);
        case 'ack':
          await this.acknowledged(frame.a, link, writer);
          return;
        case 'ping':
          if (frame.a !== undefined && !(await this.acknowledged(frame.a, link, writer))) return;
          return writer.owe('pong');
        case 'pong':
          if (frame.a !== undefined) await this.acknowledged(frame.a, link, writer);
          return;
        case 'close':
          // The client is leaving: with 1000 for good; with any other code it may come back to resume.
          if (frame.code === CloseCode.NORMAL) {
            link.close(CloseCode.NORMAL, 'bye', false); // end() then finds the link closed: no second close
            this.session.end(frame.code, frame.reason);
          } else {
            // Not 1000, which would say "session over" (§11): answer with the client's own code.
            link.close(sendableCloseCode(frame.code) ? frame.code : CloseCode.GOING_AWAY, 'bye', false);
            this.session.detach(link);
          }
          return;
        case 'hello':
          return link.fail(CloseCode.PROTOCOL_ERROR, 'duplicate hello');
        case 'welcome':
          return link.fail(CloseCode.PROTOCOL_ERROR, 'welcome is a server frame');
      }
    } catch (err) {
      this.session.failed(link, err);
    }
  }

  /**
   * Client messages s, s+1, … Deliver, then record, then ack: a crash before the record makes
   * the client send them again and whoever serves it next deliver them again, with the same seq
   * (the app can tell); recording first would let a crash lose messages the client was told had
   * arrived.
   */
  private async receive(s: number, d: unknown[], link: Link, writer: LinkWriter): Promise<void> {
    const session = this.session;
    const skip = await session.store.claim(writer.epoch, s, d.length);
    if (!session.holds(link)) return;
    if (skip === 'fenced') return session.replaced(link);
    // Leading duplicates were already received (retransmitted after a resume); a gap is an error.
    if (skip === 'gap')
      return link.fail(CloseCode.PROTOCOL_ERROR, `sequence gap: expected at most ${this.inSeq + 1}, got ${s}`);
    if (skip === d.length) return;
    let seq = s + skip - 1;
    for (let i = skip; i < d.length && !session.closed; i++) session.deliver(d[i], ++seq);
    if (session.closed) return;
    const recorded = await session.store.commit(writer.epoch, seq);
    if (!session.holds(link)) return;
    if (recorded === 'fenced') return session.replaced(link);
    // Only now may an ack cover these messages.
    if (seq > this.inSeq) this.inSeq = seq;
    if (faults.ackAhead) this.inSeq++;
    writer.received();
  }

  /** Validate and apply a cumulative ack from the client. */
  private async acknowledged(a: number, link: Link, writer: LinkWriter): Promise<boolean> {
    if (a > writer.written) {
      link.fail(CloseCode.PROTOCOL_ERROR, `ack ${a} is beyond the last message sent (${writer.written})`);
      return false;
    }
    if ((await this.session.store.acknowledge(writer.epoch, a)) !== 'fenced') return true;
    this.session.replaced(link);
    return false;
  }
}
