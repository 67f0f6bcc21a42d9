import type { IncomingMessage } from 'node:http';
import { CloseCode } from '../../protocol';

/** Where a body's frames go: the protocol link of the HTTP link the POST names. */
export interface FrameSink {
  readonly done: boolean;
  receive(text: string, byteLength?: number, bearer?: string): void;
  fail(code: number, reason: string): void;
  /** Resolves once every frame received so far is handled. */
  settled(): Promise<void>;
}

/**
 * The bodies of POSTs on the HTTP transports (docs/protocol.md §14.3): read within bounds of
 * size, time and server-wide memory, then handed to the link a slice at a time.
 */

/** A POST body may carry several frames: allow this many times `maxMessageBytes`. */
export const BODY_LIMIT_FACTOR = 4;
/**
 * Most frames one POST body may carry (blank lines not counted); more gets 413. Our client sends
 * at most 3 and, in a poll, an ack or pong. Without a bound, 4 MiB of 13-byte pings is 300,000
 * frames, each answered.
 */
export const MAX_FRAMES_PER_POST = 1000;
/**
 * A body's frames are handled this many characters at a time, yielding to the event loop in
 * between: a socket hands WebSocket frames over in reads of about this size, and a 4 MiB body
 * handled in one turn stalled every other client for over a second.
 */
const SLICE_CHARS = 64 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** How reading a body ended: its bytes, or why there are none to handle. */
export type BodyOutcome =
  | Buffer
  /** Over the per-request limit. */
  | 'too-large'
  /** Not all there within the time allowed. */
  | 'timeout'
  /** Dropped to keep bodies within the server-wide bound: it was the largest still arriving. */
  | 'shed'
  /** The client aborted the request. */
  | 'aborted';

interface Arriving {
  bytes: number;
  shed(): void;
}

/**
 * Bytes of request bodies the server holds, all requests together: those arriving, and those
 * read and waiting for their link to handle them. Per-request limits alone let one address hold
 * (links + sessions) × 2 requests × 4 MiB, trickled in to stay within the timeout.
 */
export class BodyBudget {
  used = 0;
  /** Bodies still arriving: the ones that may be shed. */
  readonly #arriving = new Set<Arriving>();

  constructor(readonly limit: number) {}

  /**
   * While over the limit, sheds the largest body still arriving: the slowest or most hostile
   * sender, since honest bodies are small and quick. A body already read is not shed: it is
   * about to be handled and released.
   */
  #shedOver(): void {
    while (this.used > this.limit) {
      let largest: Arriving | undefined;
      for (const a of this.#arriving) if (!largest || a.bytes > largest.bytes) largest = a;
      if (!largest) return;
      largest.shed();
    }
  }

  /**
   * Reads `req`'s body, of at most `limit` bytes, within `timeout` ms. The bytes count against
   * the budget until `release()`, which the caller calls once it has handled them.
   */
  read(req: IncomingMessage, limit: number, timeout: number): { outcome: Promise<BodyOutcome>; release: () => void } {
    let held = 0;
    const release = (): void => {
      this.used -= held;
      held = 0;
    };
    const outcome = new Promise<BodyOutcome>((resolve) => {
      if (Number(req.headers['content-length']) > limit) return resolve('too-large');
      const chunks: Buffer[] = [];
      const arriving: Arriving = { bytes: 0, shed: () => settle('shed') };
      const settle = (o: BodyOutcome): void => {
        clearTimeout(timer);
        req.off('data', onData);
        this.#arriving.delete(arriving);
        if (!Buffer.isBuffer(o)) release();
        resolve(o);
      };
      const onData = (chunk: Buffer): void => {
        if (arriving.bytes + chunk.length > limit) return settle('too-large');
        arriving.bytes += chunk.length;
        held += chunk.length;
        this.used += chunk.length;
        chunks.push(chunk);
        this.#shedOver();
      };
      const timer = setTimeout(() => settle('timeout'), timeout);
      this.#arriving.add(arriving);
      req.on('data', onData);
      req.on('end', () => settle(Buffer.concat(chunks, held)));
      req.on('error', () => settle('aborted'));
      req.on('close', () => settle(req.complete ? Buffer.concat(chunks, held) : 'aborted'));
    });
    return { outcome, release };
  }
}

/** The frames of a body: its non-blank lines, in order. */
function* frames(text: string): Generator<string> {
  for (let start = 0; start < text.length;) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.trim()) yield line;
  }
}

/** Whether a body carries more than MAX_FRAMES_PER_POST frames; looks no further than one past it. */
function tooManyFrames(text: string): boolean {
  let n = 0;
  for (const _ of frames(text)) if (++n > MAX_FRAMES_PER_POST) return true;
  return false;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Feeds the frames of one POST body (UTF-8, separated by \n) to the link, in order, with the
 * bearer token of the request for a hello among them, a slice per turn of the event loop.
 * 'too-many-frames': none was handled and the link is closed with 4413; the caller answers 413.
 * A body with bad frames is not refused: the link is closed, with the reason, on the link itself.
 * `taken` runs once the body is accepted (decoded, its frames counted), before they are handled:
 * a plain POST is answered then (§14.3), so the client's next body travels while this one is handled.
 */
export async function deliver(
  link: FrameSink,
  body: Buffer,
  token: string | undefined,
  taken: () => void = () => {},
): Promise<'handled' | 'too-many-frames'> {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    link.fail(CloseCode.PROTOCOL_ERROR, 'frame is not valid UTF-8');
    taken();
    return 'handled';
  }
  if (tooManyFrames(text)) {
    link.fail(CloseCode.TOO_LARGE, `request body carries more than ${MAX_FRAMES_PER_POST} frames`);
    return 'too-many-frames';
  }
  taken();
  let sliced = 0;
  for (const line of frames(text)) {
    if (link.done) break;
    link.receive(line, undefined, token);
    sliced += line.length;
    if (sliced >= SLICE_CHARS) {
      sliced = 0;
      await nextTurn();
    }
  }
  // The next body waits until these frames are handled (a hello welcomed): order, and a bound on what a link holds.
  await link.settled();
  return 'handled';
}
