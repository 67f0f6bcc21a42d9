import { CloseCode } from '../protocol';
import {
  parsed,
  type Endpoint,
  type EndpointHost,
  type EndpointOptions,
  type Protocol,
  type SessionSnapshot,
} from './endpoint';
import type { Connection, ResumeState } from './transports/types';

/**
 * Plain mode: an endpoint that speaks no protocol of ours. No handshake, no acks, no resume: each
 * frame is one message (JSON when it parses, else the text), and send() hands its text over as it
 * is. What the endpoint resumes from (Last-Event-ID, a polling cursor, an ETag) is kept here, one
 * per client, for every connection the plain transports open.
 */
class Plain implements Endpoint {
  readonly resumable = false;
  readonly position: ResumeState = {};
  readonly context = { resume: this.position };

  constructor(
    private readonly host: EndpointHost,
    private readonly options: EndpointOptions,
  ) {}

  serialize(data: unknown): string | undefined {
    return typeof data === 'string' ? data : JSON.stringify(data);
  }

  tooLarge(): undefined {}

  credentials(): undefined {}

  connected(): void {
    this.host.opened(this.options.idleTimeout, false);
  }

  frame(text: string): void {
    this.host.deliver(parsed(text));
  }

  protocolError(what: string): void {
    this.host.refuse('protocol-error', `Server broke the protocol (${what}); reconnecting`, CloseCode.PROTOCOL_ERROR);
  }

  /** Everything waiting goes out as it is; a send() resolves once handed over. */
  flush(conn: Connection): boolean {
    const outbox = this.host.outbox;
    for (const p of outbox.take(outbox.unsent().length)) {
      conn.send(p.json);
      p.resolve();
    }
    return false;
  }

  disconnected(): void {}

  reset(): void {}

  snapshot(): SessionSnapshot {
    return { a: 0 };
  }

  restore(): void {}

  ackReleased(): void {}
}

/**
 * Plain mode, for endpoints that speak no protocol of ours, with the plain transports
 * (`plainSse()`, `plainStream()`, `plainPoll()`) or `websocket()`. In 'realtime-client',
 * `protocol: 'plain'` names it.
 */
export const plain: Protocol = {
  name: 'plain',
  create: (host, options) => new Plain(host, options),
};
