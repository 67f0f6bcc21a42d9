import { fetchText, type Reply } from '../http';
import { frameBytes } from '../frames';
import type { Target } from '../target';
import type { Outgoing, Sent, SendOptions } from '../conn';
import { baseHeaders } from './types';

/** URL of a request naming a link (§14.1). */
export function linkUrl(target: Target, linkId: string, wait?: number): string {
  return `${target.http}?link=${encodeURIComponent(linkId)}${wait === undefined ? '' : `&wait=${wait}`}`;
}

/** Whether any of `frames` is a hello (its POST carries the token as a header, §14.3). */
function carriesHello(frames: Outgoing[]): boolean {
  return frames.some((f) => typeof f === 'object' && !Buffer.isBuffer(f) && (f as { t?: unknown }).t === 'hello');
}

/**
 * The POSTs of one link, one at a time in order (§14.3: requests on different TCP connections
 * can overtake each other, so a client waits for each answer before the next).
 */
export class Poster {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly target: Target,
    private readonly linkId: () => string,
  ) {}

  post(frames: Outgoing[], options: SendOptions = {}): Promise<Sent> {
    const token = this.target.token;
    const headers = baseHeaders(this.target, {
      'Content-Type': 'text/plain;charset=UTF-8',
      ...(token && carriesHello(frames) ? { Authorization: `Bearer ${token}` } : {}),
      ...options.headers,
    });
    // An empty value removes a header (a case sending hello without the bearer header).
    for (const [name, value] of Object.entries(headers)) if (value === '') delete headers[name];
    const body = joinFrames(frames);
    const result = this.chain.then(() =>
      fetchText(linkUrl(this.target, this.linkId()), { method: 'POST', headers, body }),
    );
    this.chain = result.catch(() => undefined);
    return result.then((r: Reply) => ({ status: r.status, body: r.body }));
  }
}

/** A POST body: the frames' bytes separated by \n (§14.3). */
export function joinFrames(frames: Outgoing[]): Buffer {
  return Buffer.concat(frames.flatMap((f, i) => (i === 0 ? [frameBytes(f)] : [Buffer.from('\n'), frameBytes(f)])));
}
