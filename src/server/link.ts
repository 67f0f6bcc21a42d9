import type { IncomingMessage } from 'node:http';
import { CloseCode, decodeFrame, isRetryableClose, truncateReason, type Frame, type HelloFrame } from '../protocol';
import type { ResolvedOptions } from './options';

/**
 * What a transport must provide to carry a session: one adapter per transport (websocket.ts;
 * http/stream.ts for SSE and fetch-stream, http/poll.ts for long-poll). Frames are whole JSON texts.
 */
export interface Connection {
  /**
   * Deliver one frame. Must not throw once the connection is gone (drop silently). For `msg`
   * frames `lastSeq` is the sequence number of the frame's last message (SSE sends it as `id:`).
   */
  send(text: string, lastSeq?: number): void;
  /**
   * Close the transport with this code/reason. `announced`: a close frame was just sent, which
   * the client has yet to read; false when the client has already left this connection (it
   * closed it, or resumed on another), so nothing on it matters any more.
   */
  close(code: number, reason: string, announced: boolean): void;
  /** Bytes accepted by send() but not yet written to the network. */
  readonly bufferedAmount: number;
  /** Drop the connection abruptly, without a close handshake (used by `session.disconnect()`). */
  terminate?(): void;
}

/** What a Link needs from the server. */
export interface LinkHost {
  readonly options: ResolvedOptions;
  /** `bearer`: the token of the `Authorization: Bearer` header of the HTTP request that carried hello. */
  /** Resolves (when it returns a promise) once the handshake is over: welcome sent, or the link refused. */
  onHello(link: Link, hello: HelloFrame, bearer?: string): void | Promise<void>;
  onLinkDone(link: Link): void;
  /** Called once per link: welcome sent, or the link ended before. */
  onHandshakeOver(link: Link): void;
  reportError(error: unknown, context: string): void;
}

/** Frames a link holds between hello and welcome, to handle after it; more is a protocol error. */
const EARLY_FRAMES_MAX = 100;

/** Where an open link's frames go: the session it carries. */
export interface LinkOwner {
  /** One frame; the link hands over the next only once this one is handled. */
  handleFrame(frame: Frame, link: Link): void | Promise<void>;
  /** The link is gone; the session stays resumable. */
  detach(link: Link): void;
  /** The session is over for good. */
  end(code: number, reason: string): void;
}

export function closeFrame(code: number, reason: string): string {
  return JSON.stringify({ t: 'close', code, reason });
}

/** Numbers the links of this process in the order they were accepted. */
let accepted = 0;

/**
 * One connection, whatever its transport: runs the handshake, then routes frames to the
 * session it is attached to. A session outlives its links; a link never outlives its transport.
 */
export class Link {
  /** Its place in the order this process accepted links: a later one was opened later. */
  readonly serial = ++accepted;
  /** 'handshake': waiting for hello; 'hello': hello received, welcome not yet sent; 'open': attached. */
  state: 'handshake' | 'hello' | 'open' | 'done' = 'handshake';
  session: LinkOwner | null = null;
  /** Date.now() of the last frame received, for the heartbeat deadline. */
  lastReceived = Date.now();
  private handshakeTimer: ReturnType<typeof setTimeout> | null;
  /** Counted by the host as waiting for hello (until welcome or the end). */
  private waiting = true;
  /** The open link's frames, handled one after another (the session's state may take a round trip). */
  private handling: Promise<void> = Promise.resolve();
  /** Frames received between hello and welcome. */
  private early = 0;

  constructor(
    private readonly host: LinkHost,
    readonly conn: Connection,
    readonly request: IncomingMessage,
    readonly ip: string,
  ) {
    this.handshakeTimer = setTimeout(() => {
      this.handshakeTimer = null;
      // A hello that a slow network delayed is worth another attempt: 4408 is retryable, 4400 is not.
      if (this.state === 'handshake')
        this.close(CloseCode.TIMEOUT, `no hello within ${host.options.handshakeTimeout} ms`);
      // hello arrived but authenticate() has not settled: a server-side problem, so retryable.
      else if (this.state === 'hello') this.close(CloseCode.SERVER_ERROR, 'authentication timed out');
    }, host.options.handshakeTimeout);
    this.handshakeTimer.unref?.();
  }

  get done(): boolean {
    return this.state === 'done';
  }

  get bufferedAmount(): number {
    return this.state === 'done' ? 0 : this.conn.bufferedAmount;
  }

  /**
   * Called by the transport with each text frame it receives. `bearer`: the token of the
   * `Authorization: Bearer` header of the request that carried the frame, over HTTP.
   */
  receive(text: string, byteLength?: number, bearer?: string): void {
    try {
      this.handle(text, byteLength, bearer);
    } catch (err) {
      this.bug(err);
    }
  }

  /**
   * A bug of ours, never the peer's input (that is a 4400 with a reason). Over WebSocket nothing
   * above us would catch it, and it would take the process down with every session.
   */
  private bug(err: unknown): void {
    this.host.reportError(err, 'handling a frame');
    this.fail(CloseCode.SERVER_ERROR, 'internal error');
  }

  private handle(text: string, byteLength?: number, bearer?: string): void {
    if (this.state === 'done') return;
    this.lastReceived = Date.now();
    const max = this.host.options.maxMessageBytes;
    const bytes = byteLength ?? Buffer.byteLength(text);
    if (bytes > max) return this.fail(CloseCode.TOO_LARGE, `frame of ${bytes} bytes exceeds the maximum of ${max}`);
    const frame = decodeFrame(text);
    if (typeof frame === 'string') return this.fail(CloseCode.PROTOCOL_ERROR, frame);
    switch (this.state) {
      case 'handshake':
        if (frame.t !== 'hello')
          return this.fail(CloseCode.PROTOCOL_ERROR, `expected a hello frame first, got "${frame.t}"`);
        this.state = 'hello';
        this.after(this.host.onHello(this, frame, bearer));
        return;
      case 'hello':
        // The client should have waited for welcome (§4); an HTTP client may have put the frame
        // in the body that carried hello (§14.3). Held, a bounded number, and handled in order
        // once welcome went out; dropped if the handshake refused the link.
        if (++this.early > EARLY_FRAMES_MAX)
          return this.fail(CloseCode.PROTOCOL_ERROR, `more than ${EARLY_FRAMES_MAX} frames received before welcome`);
        return this.handOver(frame);
      case 'open':
        return this.handOver(frame);
    }
  }

  /** To the session, after every frame before it (and the handshake) is handled. */
  private handOver(frame: Frame): void {
    this.handling = this.handling
      .then(() => (this.state === 'open' ? this.session!.handleFrame(frame, this) : undefined))
      .catch((err) => this.bug(err));
  }

  /**
   * Resolves once every frame received so far is handled (a hello: welcomed or refused). An HTTP
   * POST is answered only then, so a poll carrying hello returns the welcome, as §14.4 shows.
   */
  settled(): Promise<void> {
    return this.handling;
  }

  /** Frames received after the hello wait for its handshake: it may take a round trip to the session's state. */
  private after(handshake: void | Promise<void>): void {
    if (handshake) this.handling = this.handling.then(() => handshake).catch((err) => this.bug(err));
  }

  /** A request for this link arrived (HTTP): a sign of life for the heartbeat deadline. */
  touch(): void {
    if (this.state !== 'done') this.lastReceived = Date.now();
  }

  /** The handshake is over and `session` now owns this link. */
  opened(session: LinkOwner): void {
    this.clearHandshakeTimer();
    this.handshakeOver();
    this.session = session;
    this.state = 'open';
  }

  /** Send a frame if the link is still usable. `lastSeq`: see {@link Connection.send}. */
  sendText(text: string, lastSeq?: number): void {
    if (this.state !== 'done') this.conn.send(text, lastSeq);
  }

  /** Close because of something the peer did. Fatal codes end the session as well. */
  fail(code: number, reason: string): void {
    if (this.state === 'done') return;
    const session = this.session;
    const fatal = !isRetryableClose(code);
    if (!session || !fatal) this.close(code, reason); // else session.end() closes this link
    if (session) this.endOrDetach(session, fatal ? code : null, reason);
  }

  /** Deliberate close: close frame, then the transport close with the same code. */
  close(code: number, reason: string, sendCloseFrame = true): void {
    if (this.state === 'done') return;
    this.finish();
    const r = truncateReason(reason);
    try {
      if (sendCloseFrame) this.conn.send(closeFrame(code, r));
      this.conn.close(code, r, sendCloseFrame);
    } catch {
      this.conn.terminate?.();
    }
  }

  /** Abrupt drop, as if the network failed. */
  terminate(): void {
    if (this.state === 'done') return;
    this.finish();
    if (this.conn.terminate) this.conn.terminate();
    else this.conn.close(CloseCode.GOING_AWAY, 'disconnected', false);
  }

  /**
   * Called by the transport when it is gone. `code` is the close code when known. 1000 from the
   * client means it closed for good and ends the session; so does a fatal code the transport
   * closed with on our behalf (4413 from ws' maxPayload). Anything else (1001, 1005, 1006, a
   * client's own 4400/4408 before it resumes...) leaves the session resumable.
   */
  transportClosed(code?: number, reason = '', byServer = false): void {
    if (this.state === 'done') return;
    const session = this.session;
    this.finish();
    if (!session) return;
    const ends = code === CloseCode.NORMAL || (byServer && code !== undefined && !isRetryableClose(code));
    this.endOrDetach(session, ends ? code : null, reason || 'closed by client');
  }

  /** The one rule: with `endCode` the session ends for good; without, it loses this link and stays resumable. */
  private endOrDetach(session: LinkOwner, endCode: number | null, reason: string): void {
    if (endCode !== null) session.end(endCode, reason);
    else session.detach(this);
  }

  private finish(): void {
    this.state = 'done';
    this.clearHandshakeTimer();
    this.handshakeOver();
    this.host.onLinkDone(this);
  }

  private handshakeOver(): void {
    if (!this.waiting) return;
    this.waiting = false;
    this.host.onHandshakeOver(this);
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }
}
