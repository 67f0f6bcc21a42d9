// @vitest-environment node
import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { utf8Length, type Frame } from '../../src/protocol';
import { RealtimeServer, type Connection, type Session } from '../../src/server/index';
import type { Link } from '../../src/server/link';
import { anyFrameText, fcParams, isValidFrame, nested, parseOrUndefined, validFrames, withForeignFields } from './fuzz';

const IP = '10.0.0.1';
const request = { headers: {}, socket: { remoteAddress: IP } } as unknown as IncomingMessage;
const HELLO = JSON.stringify({ t: 'hello', v: [1], a: 0 });

/** The codes a server closes with because of what a client sent, before or after welcome (§4, §11). */
const BAD_INPUT_CODES = [4400, 4406, 4413];

/** RFC 6455 §7.4: the codes a WebSocket endpoint may send (ws' close() throws on any other). */
const isSendableCloseCode = (code: number): boolean =>
  (code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999);

/**
 * A Connection kept in memory. close() refuses what ws' WebSocket#close() refuses, by throwing:
 * the server then falls back to terminate(), which the test treats as a failure (a client's bad
 * frame deserves a clean close with a code).
 */
class MemoryConnection implements Connection {
  sent: string[] = [];
  closed: { code: number; reason: string } | undefined;
  terminated = false;
  bufferedAmount = 0;

  send(text: string): void {
    if (!this.closed && !this.terminated) this.sent.push(text);
  }

  close(code: number, reason: string): void {
    if (!isSendableCloseCode(code)) throw new TypeError(`First argument must be a valid error code number: ${code}`);
    if (Buffer.byteLength(reason) > 123) throw new SyntaxError('The message must not be greater than 123 bytes');
    this.closed ??= { code, reason };
  }

  terminate(): void {
    this.terminated = true;
  }
}

/** Session flushes and acks run in microtasks: let them. */
const flush = () => new Promise((resolve) => setImmediate(resolve));

/**
 * What a client may send: any text, and more often than chance would give, hellos the server
 * takes (v [1]) with extreme values in their other fields (a, max, sid, key, token).
 */
const clientText = fc.oneof(
  { arbitrary: anyFrameText, weight: 3 },
  { arbitrary: validFrames.hello.map((f) => JSON.stringify({ ...f, v: [1] })), weight: 1 },
);

let rt: RealtimeServer | undefined;

afterEach(async () => {
  await rt?.close();
  rt = undefined;
});

/**
 * After each text the link is either open (attached to a session), or closed with a code: a code
 * WebSocket can send, one of those for bad input unless the client itself said goodbye with a
 * close frame (which must end the link), and (then only) after a close frame carrying the same
 * code and reason.
 */
function expectOpenOrCleanlyClosed(link: Link, conn: MemoryConnection, text: string, wasOpen: boolean): void {
  expect(conn.terminated, 'dropped without a close code').toBe(false);
  expect(link.done).toBe(conn.closed !== undefined);
  const frame = parseOrUndefined(text) as { t?: string } | undefined;
  const clientSaidBye = wasOpen && isValidFrame(frame) && frame!.t === 'close';
  // A client's close frame (within maxMessageBytes, 1 MiB by default) ends the link.
  if (clientSaidBye && utf8Length(text) <= 1 << 20)
    expect(link.done, 'a close frame from the client was not obeyed').toBe(true);
  if (!conn.closed) return void expect(link.state).toBe('open');
  if (clientSaidBye) return;
  expect(BAD_INPUT_CODES).toContain(conn.closed.code);
  expect(JSON.parse(conn.sent.at(-1)!)).toEqual({ t: 'close', ...conn.closed });
}

type Phase = 'before hello' | 'after hello';

/**
 * Creates a server and one connection, sends a valid hello first (after hello) or not (before
 * hello), feeds `texts`, and checks after each that receive() did not throw and the link is open
 * or closed cleanly (expectOpenOrCleanlyClosed); then that a link still open carries a message,
 * that a new connection is welcomed, and that the server reported no error.
 */
async function feedsWithoutHarm(phase: Phase, texts: string[]): Promise<void> {
  rt = new RealtimeServer();
  const serverErrors: unknown[] = [];
  rt.on('error', (e) => serverErrors.push(e));
  const conn = new MemoryConnection();
  const link = rt.accept(conn, request, IP);
  if (phase === 'after hello') {
    link.receive(HELLO);
    await flush();
    expect((JSON.parse(conn.sent[0]!) as Frame).t).toBe('welcome');
  }

  for (const text of texts) {
    const wasOpen = link.state === 'open';
    const before = { closed: conn.closed, sent: conn.sent.length };
    expect(() => link.receive(text)).not.toThrow();
    await flush();
    // A closed link ignores whatever still arrives on it.
    if (before.closed) expect({ closed: conn.closed, sent: conn.sent.length }).toEqual(before);
    else expectOpenOrCleanlyClosed(link, conn, text, wasOpen);
  }

  if (!link.done) {
    // Still usable: the session it carries reaches the client.
    (link.session as Session).send('still there');
    await flush();
    // The last msg frame: a pong owed to a ping may leave after it, at the end of the turn.
    const last = conn.sent
      .map((t) => JSON.parse(t) as Frame)
      .filter((f) => f.t === 'msg')
      .at(-1);
    expect(last?.d.at(-1)).toBe('still there');
  }

  const fresh = new MemoryConnection();
  rt.accept(fresh, request, IP).receive(HELLO);
  await flush();
  expect(JSON.parse(fresh.sent[0]!)).toMatchObject({ t: 'welcome', resumed: false });

  // The 'error' event is for the application's own failures (its listeners, its store), never a client's frames.
  expect(serverErrors).toEqual([]);
  await rt.close();
  rt = undefined;
}

describe('server boundary fuzz: any frame text from a client', () => {
  it('never throws out of link.receive, leaves the link open or closed cleanly with a code, and the next connection still gets a welcome', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Phase>('before hello', 'after hello'),
        fc.array(clientText, { minLength: 1, maxLength: 3 }),
        feedsWithoutHarm,
      ),
      fcParams(300),
    );
    // A few seconds here; the margin is for a busy machine and for shrinking a failure.
  }, 30_000);

  it('every frame type with a field of another type added, holding an array 4,000 deep or a number, meets the same checks', async () => {
    // Unknown fields are never validated (the client read one as an ack, see client.fuzz.test.ts): swept exhaustively here too.
    const texts = [...withForeignFields(nested('[', '1', ']', 4000)), ...withForeignFields('5')];
    expect(texts).toHaveLength(138);
    for (const text of texts)
      for (const phase of ['before hello', 'after hello'] as const) await feedsWithoutHarm(phase, [text]);
  }, 30_000);
});
