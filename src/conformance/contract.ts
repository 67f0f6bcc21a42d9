import { CaseFailure, show } from './errors';
import { Peer, PROMPT_MS } from './peer';
import type { Target } from './target';
import type { TransportDriver } from './transports/types';

/**
 * The application contract of docs/conformance.md, checked once before the cases: most cases
 * need the server to echo, push and close on request, and without that application every one
 * of them would fail for a reason that has nothing to do with the protocol.
 */
export interface ContractResult {
  /** The application answers as docs/conformance.md says. */
  ok: boolean;
  /** Why not, in words for the person running the kit. */
  why?: string;
  /** The server could not be reached at all (nothing else is worth trying). */
  unreachable?: string;
  /** welcome.transports, when a welcome came. */
  offered?: string[];
}

/** The close code the contract check asks for: an application code (§11: 4000-4999 allowed). */
export const CONTRACT_CLOSE_CODE = 4321;

export async function checkContract(target: Target, driver: TransportDriver): Promise<ContractResult> {
  const wait = Math.round(PROMPT_MS * target.scale);
  const open = async (): Promise<Peer> => Peer.handshake(await driver.open(target), {}, wait);
  let first: Peer;
  try {
    first = await open();
  } catch (err) {
    return { ok: false, unreachable: `no welcome over ${driver.name} from ${target.http}: ${describe(err)}` };
  }
  const transports: unknown = first.welcome.transports;
  const offered = Array.isArray(transports) ? transports.filter((t): t is string => typeof t === 'string') : undefined;
  // One request per session, each its first message: a protocol bug (a lost or duplicated
  // message) then fails the case that checks it, not the whole run.
  const peers = [first];
  try {
    await first.say('contract-check');
    await first.echoOf('contract-check').catch(() => {
      throw new Error('a message got no {"echo": …} back, so the server runs no conformance application');
    });
    const pusher = await open();
    peers.push(pusher);
    await pusher.push(2);
    const pushed = await pusher.pushed(2).catch(() => {
      throw new Error('{"cmd":"push","n":2} brought no pushed messages');
    });
    const got = pushed.map(([, d]) => d);
    if (got[0]?.push !== 1 || got[1]?.push !== 2)
      throw new Error(`{"cmd":"push","n":2} brought ${show(got)}, not {"push":1}, {"push":2}`);
    const closer = await open();
    peers.push(closer);
    await closer.closeBy(CONTRACT_CLOSE_CODE, 'contract check');
    const end = await closer.conn.ended(wait).catch(() => {
      throw new Error(`{"cmd":"close","code":${CONTRACT_CLOSE_CODE}} did not close the session`);
    });
    if (end.frame?.code !== CONTRACT_CLOSE_CODE)
      throw new Error(`{"cmd":"close","code":${CONTRACT_CLOSE_CODE}} closed with ${show(end.frame ?? end)}`);
    return { ok: true, ...(offered ? { offered } : {}) };
  } catch (err) {
    return { ok: false, why: describe(err), ...(offered ? { offered } : {}) };
  } finally {
    for (const p of peers) {
      await p.bye();
      p.conn.cut();
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof CaseFailure) return err.message;
  return (err as Error)?.message ?? String(err);
}
