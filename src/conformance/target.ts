import { UsageError } from './errors';

/** The server under test and how to talk to it. */
export interface Target {
  /** The endpoint over HTTP(S): `http://host:port/realtime`. */
  readonly http: string;
  /** The same endpoint as a WebSocket URL: `ws://host:port/realtime`. */
  readonly ws: string;
  /** An origin the server allows, sent as `Origin` on every request; enables the Origin cases. */
  readonly origin?: string;
  /** A token the server accepts; sent in hello.token (WebSocket) or `Authorization: Bearer` (HTTP). */
  readonly token?: string;
  /** Multiplies every wait of the kit, for slow servers. */
  readonly scale: number;
}

/** The endpoint URL in both forms; any of http, https, ws and wss is accepted. */
export function endpoint(url: string): { http: string; ws: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`not a URL: ${url}`);
  }
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol))
    throw new UsageError(`the URL must be http(s) or ws(s), got ${u.protocol}`);
  if (u.search) throw new UsageError('the URL must not carry a query string: the kit adds its own (§14.1)');
  const rest = `//${u.host}${u.pathname}`;
  return { http: `${secure ? 'https' : 'http'}:${rest}`, ws: `${secure ? 'wss' : 'ws'}:${rest}` };
}
