import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Retry-After (seconds) while shutting down. */
const SHUTDOWN_RETRY_AFTER_S = 5;

export const NDJSON = 'application/x-ndjson; charset=utf-8';

/** A short text/plain answer; the body is the reason. */
export function reply(res: ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = text ? text + '\n' : '';
  res.writeHead(status, {
    ...headers,
    ...(body ? { 'Content-Type': 'text/plain; charset=utf-8' } : {}),
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** 503 while the server shuts down: the client reconnects later (like 1001). */
export function replyShuttingDown(res: ServerResponse): void {
  reply(res, 503, 'server shutting down', { 'Retry-After': String(SHUTDOWN_RETRY_AFTER_S) });
}

/** Refuses a body without reading the rest of it: the connection closes rather than drain it. */
export function refuseBody(req: IncomingMessage, res: ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  if (res.headersSent) return void req.destroy();
  reply(res, status, text, { ...headers, Connection: 'close' });
}

/** The token of an `Authorization: Bearer` header, or undefined. */
export function bearer(req: IncomingMessage): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
}
