import { describeEnding, type Conn, type Ending } from '../conn';
import { CaseSkipped, check, show } from '../errors';
import { Peer, PROMPT_MS } from '../peer';
import type { CaseContext } from './types';

/** The wait for something the server should do promptly. */
export const prompt = (ctx: CaseContext): number => ctx.ms(PROMPT_MS);

/** Waits for the end of `conn` and checks it came with a close frame carrying `code`. */
export async function closedWith(conn: Conn, code: number, ctx: CaseContext): Promise<Ending> {
  const end = await conn.ended(prompt(ctx));
  check(end.frame?.code === code, `a close frame with code ${code}`, () => describeEnding(end));
  return end;
}

/** Opens a new connection and resumes `peer`'s session from `a` (the peer's received by default). */
export function resume(
  ctx: CaseContext,
  peer: Peer,
  a = peer.conn.received,
  extra: Record<string, unknown> = {},
): Promise<Peer> {
  return ctx.connect({ sid: peer.sid, key: peer.key, a, ...extra });
}

/** Checks that `welcome` resumed `old`'s session. */
export function checkResumed(welcome: Peer['welcome'], old: Peer): void {
  check(welcome.resumed === true && welcome.sid === old.sid, `resumed: true with sid ${old.sid}`, () =>
    show({ resumed: welcome.resumed, sid: welcome.sid }),
  );
}

/** Checks that `welcome` started a new session instead of resuming `old`'s (§5: resumed false, new sid, a 0). */
export function checkNewSession(welcome: Peer['welcome'], old: Peer): void {
  check(welcome.resumed === false, 'resumed: false (a new session)', () => `resumed: ${show(welcome.resumed)}`);
  check(welcome.sid !== old.sid, 'a new sid', () => 'the old sid');
  check(welcome.a === 0, 'a: 0', () => `a: ${show(welcome.a)}`);
}

/** Cuts the connection and waits until the kit sees it gone. */
export async function cut(peer: Peer, ctx: CaseContext): Promise<void> {
  peer.conn.cut();
  await peer.conn.gone(prompt(ctx)).catch(() => undefined);
}

/** The session ends after `closing`: a resume of it gets a new session. */
export async function expectEnded(ctx: CaseContext, peer: Peer): Promise<void> {
  const again = await resume(ctx, peer);
  checkNewSession(again.welcome, peer);
}

/** The heartbeat interval the server announced, or a skip when it is too long for the kit to wait out. */
export function heartbeat(peer: Peer, ctx: CaseContext, longest = 60_000): number {
  const hb = peer.welcome.hb as number;
  if (hb > ctx.ms(longest))
    throw new CaseSkipped(
      `welcome.hb is ${hb} ms: too long to wait for here (at most ${ctx.ms(longest)}; see --timeout-scale)`,
    );
  return hb;
}

/** A string of `n` ASCII characters. */
export const pad = (n: number): string => 'x'.repeat(Math.max(0, n));

/** The close frames sent on `conn` so far. */
export const closeFrames = (conn: Conn) => conn.frames.filter((f) => f.t === 'close');
