import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/**
 * Plain HTTP for the kit, on node:http rather than fetch: it must set any header (Origin
 * included), write a body in pieces, and abort a request half-way through its body.
 */

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** The whole body, or its pieces, written one turn of the event loop apart. */
  body?: string | Buffer | Array<string | Buffer>;
  /** Aborts the request (and its response). */
  signal?: AbortSignal;
}

function open(url: string, method: string, headers: Record<string, string>, signal?: AbortSignal): ClientRequest {
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return send(url, { method, headers, ...(signal ? { signal } : {}) });
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Writes `body` (a piece per turn when it is an array), then ends the request. */
async function writeBody(req: ClientRequest, body: RequestOptions['body']): Promise<void> {
  if (!Array.isArray(body)) return void req.end(body);
  for (const piece of body) {
    if (req.destroyed) return;
    req.write(piece);
    await nextTurn();
  }
  req.end();
}

/** Sockets that already carry the no-op 'error' listener of {@link begin}. */
const guarded = new WeakSet<object>();

/** Starts a request; resolves with the response as soon as its headers arrive. */
export function begin(
  url: string,
  options: RequestOptions = {},
): { req: ClientRequest; response: Promise<IncomingMessage> } {
  const req = open(url, options.method ?? 'GET', options.headers ?? {}, options.signal);
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  // A server that answers before the body is in and then resets the connection makes the body's
  // pending write fail after the response came, on a socket the request has already given back
  // (write ECONNRESET, EPIPE). The response is what the case judges; unhandled, that error would
  // end the kit's process, report and all.
  req.on('socket', (socket) => {
    // Once per socket: the agent reuses a socket for many requests.
    if (guarded.has(socket)) return;
    guarded.add(socket);
    socket.on('error', () => {});
  });
  void writeBody(req, options.body);
  return { req, response };
}

/** Reads a whole response body as UTF-8. */
export function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    res.once('end', () => resolve(text));
    res.once('error', reject);
    res.once('aborted', () => reject(new Error('response aborted')));
  });
}

/** One whole request and response. Rejects on a network error or an abort. */
export async function fetchText(url: string, options: RequestOptions = {}): Promise<Reply> {
  const { response } = begin(url, options);
  const res = await response;
  const body = await readBody(res);
  return { status: res.statusCode ?? 0, headers: res.headers, body };
}

/** The value of one response header as a single string ('' when absent). */
export function header(headers: IncomingHttpHeaders, name: string): string {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : (v ?? '');
}
