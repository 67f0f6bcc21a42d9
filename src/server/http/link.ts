import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Connection, Link } from '../link';
import type { ResolvedOptions } from '../options';
import type { Responder } from './respond';

/**
 * An HTTP link (docs/protocol.md §14.1): one HTTP-carried connection, playing the part of one
 * WebSocket. Frames to the client travel on the link's own way (a stream, or poll answers);
 * frames from the client arrive in POSTs naming it, which the router hands to `link`.
 */
export interface HttpLink extends Connection {
  readonly id: string;
  /** The protocol side above this transport: handshake, then the session's frames. */
  link: Link;
  /** False once the link is over and forgotten: later requests naming it get 404. */
  readonly registered: boolean;
  /** The POSTs carrying frames from the client, one after another. */
  readonly requests: LinkRequests;
  /** Present on links that take polls (a POST with `wait`); a poll to any other link gets 400. */
  readonly polls?: Polls;
  /** Answers the GET that opened the link, once it is registered and accepted. */
  start(): void;
  /** Server shutdown, after the close frames went out: release everything. */
  shutdown(): void;
}

/** How one transport's links are made. */
export interface HttpLinkKind {
  /** A link for the GET whose response is `res`; it calls `forget` once, when it is over. */
  create(res: ServerResponse, options: ResolvedOptions, forget: (l: HttpLink) => void): HttpLink;
}

/**
 * The client's POSTs for one link. Bodies are handled one after another, in the order the
 * requests arrived; at most one plain POST and one poll are read at a time, which bounds what
 * a link can make the server buffer, whatever the number of concurrent requests.
 */
export interface LinkRequests {
  chain: Promise<void>;
  posting: boolean;
  polling: boolean;
}

/** One poll on a long-poll link. */
export interface Poll {
  responder: Responder;
  wait: number;
  /** The body was handled; the poll waits for frames. */
  held: boolean;
  answered: boolean;
  timer: ReturnType<typeof setTimeout> | null;
}

/** What a long-poll link does with the polls the router hands it. */
export interface Polls {
  /** A poll request arrived (its body is still to be handled). */
  begin(responder: Responder, wait: number): Poll;
  /** The poll's body was handled: answer now, soon, or hold it. */
  hold(poll: Poll): void;
}

export const newRequests = (): LinkRequests => ({ chain: Promise.resolve(), posting: false, polling: false });

/** At least 128 random bits (docs/protocol.md §14.1). */
export const newLinkId = (): string => randomBytes(18).toString('base64url'); // 144 bits
