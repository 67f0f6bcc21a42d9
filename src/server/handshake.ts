import { CloseCode, MIN_FRAME_LIMIT, PROTOCOL_VERSION, type HelloFrame } from '../protocol';
import type { Admission } from './admission';
import { faults } from './faults';
import type { Link } from './link';
import { Session, type SessionHost } from './session';
import type { SessionEngine } from './state/types';

/**
 * The handshake (docs/protocol.md §4-§6): from a link's hello to its welcome, a new session or a
 * resumed one, or a refusal with its close code.
 */

/** Protocol versions this server speaks, highest preferred. */
export const SUPPORTED_VERSIONS: readonly number[] = [PROTOCOL_VERSION];

/** What the handshake needs from the server. */
export interface HandshakeHost extends SessionHost {
  readonly shuttingDown: boolean;
  readonly admission: Admission;
  /** The session of `sid` this process holds, if any. */
  held(sid: string): Session | undefined;
  /** From now on this process holds `session` (and counts it against its address). */
  hold(session: Session): void;
  /** The server's 'connection' (a new session) or 'restore' (one this process takes over) event. */
  announce(event: 'connection' | 'restore', session: Session): void;
}

export class Handshake {
  constructor(
    private readonly host: HandshakeHost,
    private readonly engine: SessionEngine,
  ) {}

  /**
   * A link's hello, with the bearer token of its HTTP request, if any. Resolves once the
   * handshake is over: welcome sent, or the link refused.
   */
  hello(link: Link, hello: HelloFrame, bearer?: string): void | Promise<void> {
    if (hello.max !== undefined && hello.max < MIN_FRAME_LIMIT)
      return link.close(CloseCode.PROTOCOL_ERROR, `hello max ${hello.max} is below ${MIN_FRAME_LIMIT}`);
    let version = -1;
    for (const v of hello.v) if (SUPPORTED_VERSIONS.includes(v) && v > version) version = v;
    if (version < 0) {
      return link.close(
        CloseCode.UNSUPPORTED_VERSION,
        `no common protocol version: server speaks ${SUPPORTED_VERSIONS.join(', ')}`,
      );
    }
    const auth = this.host.options.authenticate;
    if (!auth) return this.accepted(link, hello, version, true);
    let result: unknown;
    try {
      // HTTP clients send the token in a header; a token in hello (any client may) comes first.
      result = auth(hello.token ?? bearer, link.request);
    } catch {
      return link.close(CloseCode.UNAUTHORIZED, 'unauthorized');
    }
    try {
      // Reads `.then`, and calls it: a getter, or then() itself, may throw.
      if (isThenable(result)) {
        let over!: () => void;
        const handshake = new Promise<void>((resolve) => (over = resolve));
        const refuse = (): void => {
          link.close(CloseCode.UNAUTHORIZED, 'unauthorized');
          over();
        };
        result.then((value) => (value ? void this.accepted(link, hello, version, value).then(over) : refuse()), refuse);
        return handshake;
      }
    } catch (err) {
      this.host.reportError(err, 'authenticate');
      return link.close(CloseCode.UNAUTHORIZED, 'unauthorized');
    }
    if (result) return this.accepted(link, hello, version, result);
    link.close(CloseCode.UNAUTHORIZED, 'unauthorized');
  }

  /** A hello that passed authentication: welcome it, and never let a failure escape. */
  private accepted(link: Link, hello: HelloFrame, version: number, auth: unknown): Promise<void> {
    return this.welcome(link, hello, version, auth).catch((err) => {
      this.host.reportError(err, 'welcome');
      link.close(CloseCode.SERVER_ERROR, 'internal error');
    });
  }

  private async welcome(link: Link, hello: HelloFrame, version: number, auth: unknown): Promise<void> {
    const host = this.host;
    if (link.done) return; // closed while authenticating
    if (host.shuttingDown) return link.close(CloseCode.GOING_AWAY, 'server shutting down');
    // Nothing can be stored (Redis unreachable): no welcome may promise anything; the client backs off.
    if (!this.engine.available) return link.close(CloseCode.SERVER_ERROR, 'session store unavailable');
    if (hello.sid !== undefined && hello.key !== undefined) {
      const existing = host.held(hello.sid) ?? (await this.adopt(hello.sid, hello.key));
      if (existing && (faults.noKeyCheck || existing.store.matchesKey(hello.key))) {
        const attached = await existing.attach(link, version, hello.a, hello.max);
        if (attached === 'attached') {
          existing.auth = auth;
          return existing.resumed();
        }
        if (attached === 'failed') return; // not saved: left as it was, awaiting a resume
        // A client now taking smaller frames (hello.max) than a message it has yet to receive
        // could never resume past it: end the session (its 'close' says why), and the new one's
        // resumed: false tells the client that data was lost.
        if (attached.why === 'too-large') existing.end(CloseCode.TOO_LARGE, attached.reason);
      }
    }
    if (link.done) return;
    if (!host.admission.mayOpenSession(link.ip))
      return link.close(CloseCode.RATE_LIMITED, 'too many sessions from this address');
    const session = new Session(host, await this.engine.create(link.ip));
    if (link.done) return session.end(CloseCode.ABNORMAL, 'client left');
    host.hold(session);
    // Not saved (or the client left meanwhile): a new session is dropped.
    if ((await session.attach(link, version, undefined, hello.max)) !== 'attached')
      return session.end(CloseCode.SERVER_ERROR, 'session store unavailable');
    session.auth = auth;
    host.announce('connection', session);
  }

  /**
   * A session this process does not hold, kept by the engine for another one (it created the
   * session, or served it last): from now on this process holds it too, and the app attaches
   * its handlers on 'restore', as for a session restored after a restart.
   */
  private async adopt(sid: string, key: string): Promise<Session | undefined> {
    const state = await this.engine.find(sid, key);
    if (!state) return;
    const raced = this.host.held(sid); // another hello for it got here first
    if (raced) return raced;
    const session = new Session(this.host, state);
    this.host.hold(session);
    this.host.announce('restore', session);
    return session;
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    v !== null &&
    (typeof v === 'object' || typeof v === 'function') &&
    typeof (v as PromiseLike<unknown>).then === 'function'
  );
}
