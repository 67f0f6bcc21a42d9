import { createParser } from 'eventsource-parser';
import { cut } from './http';

/**
 * A feed for {@link read} that parses a text/event-stream body (with eventsource-parser) and hands
 * each event's data and id to `event`, with the data's size in UTF-8 while the body was ASCII. An event still arriving that is longer than twice `max`
 * (SSE wraps a frame in 'data: ' and id lines) goes to `frame` as it is and reading stops, so a
 * server that never ends an event cannot make us hold more.
 */
export function eventStream(
  max: number,
  event: (data: string, id: string | undefined, bytes?: number) => void,
  frame: (text: string) => void,
): (text: string, ascii?: boolean) => void {
  /** SSE text fed since the last blank line or event: at least what the parser holds. */
  let held = '';
  /** Every byte of the body so far was ASCII (see read()). */
  let ascii: boolean | undefined;
  const parser = createParser({
    onEvent: (e) => {
      held = '';
      event(e.data, e.id, ascii ? e.data.length : undefined);
    },
  });
  return (text, asciiSoFar) => {
    ascii = asciiSoFar;
    // Fed line by line, so `held` restarts where the parser drops what it held.
    for (const p of text.match(/[^\n]*\n?/g)!) {
      held = /^\r?\n$/.test(p) ? '' : held + p;
      parser.feed(p);
    }
    cut(held, 2 * max, frame);
  };
}
