import type { ResumeState } from '../transports/types';
import type { TabMessage } from './channel';

/**
 * Server messages the leader keeps for a tab that relinks (after a leader change, or its link
 * dropping) and missed what went out meanwhile: the server no longer has what the leader
 * acknowledged. A tab further behind is told its messages were lost.
 */
const KEPT = 1024;

/**
 * The last server messages every tab keeps, by seq (a tab that takes over gives a tab behind it
 * what the server no longer has), and, for an endpoint that numbers no messages (plain mode),
 * where it resumes after each of them (a tab that takes over goes on from there).
 */
export class Kept {
  readonly #messages: Array<[number, unknown]> = [];
  readonly #resumeAt = new Map<number, ResumeState>();

  add(seq: number, data: unknown): void {
    const messages = this.#messages;
    if (seq > (messages.at(-1)?.[0] ?? 0)) messages.push([seq, data]);
    if (messages.length > KEPT) messages.splice(0, messages.length - KEPT);
  }

  /** The messages kept after seq `a`. */
  after(a: number): Array<[number, unknown]> {
    return this.#messages.filter(([seq]) => seq > a);
  }

  /** While this tab follows: where an endpoint that numbers nothing resumes after a message the leader passed on. */
  note(m: TabMessage): void {
    if (m.t !== 'msg' || !m.at) return;
    const resumeAt = this.#resumeAt;
    resumeAt.set(...m.at);
    // One in, the oldest out (a Map keeps the order they came in).
    if (resumeAt.size > KEPT) resumeAt.delete(resumeAt.keys().next().value!);
  }

  /** The seq of the last message whose resume position this tab heard of (0: none). */
  lastNoted(): number {
    return [...this.#resumeAt.keys()].at(-1) ?? 0;
  }

  /** Puts `position` where an endpoint that numbers nothing stood after message `seq`, if known. */
  resumeAfter(seq: number, position: ResumeState): void {
    for (const k of Object.keys(position)) delete position[k as keyof ResumeState];
    Object.assign(position, this.#resumeAt.get(seq));
  }

  clear(): void {
    this.#messages.length = 0;
    this.#resumeAt.clear();
  }

  /** Another session: its messages mean nothing in it. */
  restart(): void {
    this.#messages.length = 0;
  }
}
