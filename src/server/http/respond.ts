import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

export const NDJSON = 'application/x-ndjson; charset=utf-8';

/**
 * Where the answer to a POST goes: the HTTP response, or (with a cluster) the process that
 * received the request for a link this process holds, and relayed it here.
 */
export interface Responder {
  /** An answer went out, or the client went away: nothing more can be sent. */
  readonly done: boolean;
  /** The whole answer. */
  answer(status: number, headers: OutgoingHttpHeaders, body: string): void;
  /** Cuts the request (its body is not read any further): the connection closes. */
  cut(): void;
  /** `fn` runs once when the request is over: answered (by anyone), or its client gone. */
  onClose(fn: () => void): void;
}

/** The Responder of a request answered by this process. */
export function responderFor(res: ServerResponse): Responder {
  return {
    get done() {
      return res.headersSent || res.destroyed;
    },
    answer(status, headers, body) {
      res.writeHead(status, headers);
      res.end(body);
    },
    cut: () => void res.destroy(),
    onClose: (fn) => void res.once('close', fn),
  };
}

/** A short text/plain answer; the body is the reason. */
export function reply(to: Responder | ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  const r = 'answer' in to ? to : responderFor(to);
  if (r.done) return r.cut();
  const body = text ? text + '\n' : '';
  r.answer(
    status,
    {
      ...headers,
      ...(body ? { 'Content-Type': 'text/plain; charset=utf-8' } : {}),
      'Cache-Control': 'no-store',
      'Content-Length': Buffer.byteLength(body),
    },
    body,
  );
}

/** Refuses a body without reading the rest of it: the connection closes rather than drain it. */
export function refuseBody(to: Responder, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  if (to.done) return to.cut();
  reply(to, status, text, { ...headers, Connection: 'close' });
}

/** The token of an `Authorization: Bearer` header, or undefined. */
export function bearer(req: IncomingMessage): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
}
