import { encodeMessages } from './codec';

/** A message waiting to go out: its sequence number, its JSON, and that JSON's size in bytes of UTF-8. */
export interface Packable {
  readonly seq: number;
  readonly json: string;
  readonly bytes: number;
}

/** One msg frame built by {@link packFrames}: its text, and the sequence number of its last message. */
export interface PackedFrame {
  readonly text: string;
  readonly last: number;
}

/**
 * Packs messages with consecutive sequence numbers into as few msg frames as fit `max` bytes of
 * UTF-8 each, every frame carrying `ack` (none when undefined). The envelope is counted exactly,
 * digits of `s` and `a` included. A frame always takes at least one message: one too large for
 * any frame is refused before it is queued ({@link tooLargeFor}), never split. Both sides use it:
 * the client with the server's `max` from welcome, the server with the smaller of both limits.
 *
 * Frames are built as they are taken, so a writer that stops at a backlog has built no more than
 * it wrote.
 */
export function* packFrames(
  items: readonly Packable[],
  max: number,
  ack?: number,
): Generator<PackedFrame, void, undefined> {
  for (let i = 0; i < items.length;) {
    const first = i;
    let size = encodeMessages(items[first]!.seq, [], ack).length + items[i++]!.bytes;
    // Each further message costs its bytes and the comma before it.
    while (i < items.length && size + 1 + items[i]!.bytes <= max) size += 1 + items[i++]!.bytes;
    const batch = items.slice(first, i);
    yield {
      text: encodeMessages(
        batch[0]!.seq,
        batch.map((p) => p.json),
        ack,
      ),
      last: batch[batch.length - 1]!.seq,
    };
  }
}

/** Largest possible msg-frame envelope: `{"t":"msg","s":<seq>,"d":[],"a":<ack>}` with 16-digit numbers. */
export const FRAME_OVERHEAD = /* @__PURE__ */ encodeMessages(
  Number.MAX_SAFE_INTEGER,
  [],
  Number.MAX_SAFE_INTEGER,
).length;

/**
 * Why a message of `bytes` cannot fit a frame to a client taking `clientMax` bytes from a server taking `max`, or undefined if it can.
 */
export function tooLargeFor(max: number, bytes: number, clientMax: number): string | undefined {
  if (bytes + FRAME_OVERHEAD <= Math.min(max, clientMax)) return;
  return `message of ${bytes} bytes cannot fit in a frame (maxMessageBytes ${max}${clientMax < Infinity ? `, the client's max ${clientMax}` : ''})`;
}
