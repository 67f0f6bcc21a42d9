// @vitest-environment node
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { RealtimeError, TransportName } from '../../src/index';
import { RealtimeServer, type RealtimeServerOptions } from '../../src/server/index';
import { testScope } from './harness';
import { waitFor } from '../wait';

const { server, client, defer } = testScope();

describe.each<TransportName>(['websocket', 'long-poll'])('auth over %s', (transport) => {
  it('an expired token is refused with 4401: auth() is asked again and the fresh token gets in', async () => {
    const seen: Array<string | undefined> = [];
    const s = await server({
      authenticate: (token) => {
        seen.push(token);
        return token === 'fresh';
      },
    });
    let calls = 0;
    const c = client(s.url, {
      transports: [transport],
      auth: () => Promise.resolve(++calls === 1 ? 'expired' : 'fresh'),
    });
    const errors: RealtimeError[] = [];
    c.on('error', (e) => errors.push(e));
    await waitFor(() => c.state === 'open', { what: 'open with the fresh token' });
    expect(seen).toEqual(['expired', 'fresh']);
    expect(errors).toEqual([]);
  });

  it('a token refused 3 times in a row stops the client with unauthorized, and the token is in no message', async () => {
    const s = await server({ authenticate: () => false });
    let calls = 0;
    const c = client(s.url, { transports: [transport], auth: () => `secret-token-${++calls}` });
    const errors: RealtimeError[] = [];
    const closes: string[] = [];
    c.on('error', (e) => errors.push(e));
    c.on('close', (e) => closes.push(e.reason));
    await waitFor(() => c.state === 'closed', { what: 'the client giving up' });
    expect(calls).toBe(3);
    expect(errors.map((e) => e.code)).toEqual(['unauthorized']);
    for (const text of [...errors.map((e) => e.message), ...closes]) expect(text).not.toContain('secret-token');
  });
});

interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * The reference server behind a recorder of every raw request (body included) and upgrade, with
 * `gate` in front: a stand-in for a gateway that may answer a request itself (returns true).
 */
async function recorded(
  options: RealtimeServerOptions,
  gate: (req: IncomingMessage, res: ServerResponse) => boolean = () => false,
) {
  const rt = new RealtimeServer({ path: '/realtime', ...options });
  const requests: Recorded[] = [];
  const http = createServer((req, res) => {
    const r: Recorded = { method: req.method!, url: req.url!, headers: req.headers, body: '' };
    requests.push(r);
    req.on('data', (chunk: Buffer) => (r.body += chunk.toString()));
    if (!gate(req, res) && !rt.handleRequest(req, res)) res.writeHead(404).end();
  });
  http.on('upgrade', (req, socket, head) => {
    requests.push({ method: 'UPGRADE', url: req.url!, headers: req.headers, body: '' });
    rt.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  defer(async () => {
    await rt.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });
  return { url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/realtime`, requests };
}

const TOKEN = 'Tok3n.secret-XYZ_42';

describe.each<TransportName>(['sse', 'fetch-stream', 'long-poll'])('the token over %s', (transport) => {
  it('travels as Authorization: Bearer on the POST carrying hello only, in no URL or body, and reaches authenticate', async () => {
    const seen: Array<string | undefined> = [];
    const s = await recorded({
      authenticate: (token) => {
        seen.push(token);
        return token === TOKEN;
      },
    });
    const c = client(s.url, { transports: [transport], auth: () => TOKEN });
    await waitFor(() => c.state === 'open', { what: 'open with the token' });
    await c.send('after hello');
    expect(seen).toEqual([TOKEN]);
    const carrying = s.requests.filter((r) => r.headers.authorization !== undefined);
    expect(carrying.map((r) => [r.method, r.headers.authorization])).toEqual([['POST', `Bearer ${TOKEN}`]]);
    expect(JSON.parse(carrying[0]!.body)).toEqual({ t: 'hello', v: [1], a: 0, max: 1048576 }); // no token field
    expect(s.requests.some((r) => r.body.includes('after hello'))).toBe(true);
    for (const r of s.requests) {
      expect(r.url).not.toContain(TOKEN);
      expect(r.body).not.toContain(TOKEN);
    }
  });

  it('a token not printable ASCII (a newline) is never sent nor quoted: 3 tries, then unauthorized', async () => {
    const s = await recorded({ authenticate: () => true });
    let calls = 0;
    const c = client(s.url, { transports: [transport], auth: () => `secret\ntoken-${++calls}` });
    const texts: string[] = [];
    const codes: string[] = [];
    c.on('error', (e) => {
      codes.push(e.code);
      texts.push(e.message);
    });
    c.on('close', (e) => texts.push(e.reason));
    await waitFor(() => c.state === 'closed', { what: 'the client giving up' });
    expect(calls).toBe(3);
    expect(codes).toEqual(['unauthorized']);
    expect(texts.at(-1)).toMatch(/token not printable ASCII/);
    for (const text of texts) expect(text).not.toContain('secret');
    expect(s.requests.filter((r) => r.method === 'POST')).toEqual([]);
  });

  it('an Origin off the allow-list (HTTP 403): auth() asked again after a backoff each time, then unauthorized naming the Origin', async () => {
    const s = await server({ allowedOrigins: ['https://good.example'] });
    let calls = 0;
    // Node's fetch sends no Origin by itself; a browser on https://evil.example would.
    const fetchFrom: typeof fetch = (input, init = {}) =>
      fetch(input, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), Origin: 'https://evil.example' },
      });
    const c = client(s.url, {
      transports: [transport],
      auth: () => `secret-token-${++calls}`,
      env: { fetch: fetchFrom },
    });
    const errors: RealtimeError[] = [];
    const texts: string[] = [];
    const waits: number[] = [];
    c.on('error', (e) => {
      errors.push(e);
      texts.push(e.message);
    });
    c.on('close', (e) => texts.push(e.reason));
    c.on('reconnecting', () => waits.push(calls));
    await waitFor(() => c.state === 'closed', { what: 'the client giving up' });
    expect(calls).toBe(3);
    expect(waits).toEqual([1, 2]);
    expect(errors.map((e) => [e.code, e.closeCode])).toEqual([['unauthorized', 4401]]);
    expect(errors[0]!.message).toMatch(/HTTP 403.*Origin/);
    for (const text of texts) expect(text).not.toContain('secret-token');
  });
});

describe.each([401, 403])('HTTP %i from a gateway refusing the token', (status) => {
  it.each<TransportName>(['sse', 'fetch-stream', 'long-poll'])(
    'over %s: auth() is asked for a fresh token after a backoff, and the 3rd refusal ends with unauthorized',
    async (transport) => {
      const refused: string[] = [];
      const s = await recorded({ authenticate: () => true }, (req, res) => {
        if (req.headers.authorization === undefined) return false;
        refused.push(req.headers.authorization);
        res.writeHead(status, { 'Content-Type': 'text/plain' }).end('refused');
        return true;
      });
      let calls = 0;
      const c = client(s.url, { transports: [transport], auth: () => `secret-token-${++calls}` });
      const errors: RealtimeError[] = [];
      const texts: string[] = [];
      const retries: Array<{ calls: number; delay: number }> = [];
      c.on('error', (e) => {
        errors.push(e);
        texts.push(e.message);
      });
      c.on('close', (e) => texts.push(e.reason));
      c.on('reconnecting', (e) => retries.push({ calls, delay: e.delay }));
      await waitFor(() => c.state === 'closed', { what: 'the client giving up' });
      expect(refused).toEqual(['Bearer secret-token-1', 'Bearer secret-token-2', 'Bearer secret-token-3']);
      expect(retries.map((r) => r.calls)).toEqual([1, 2]);
      expect(errors.map((e) => [e.code, e.closeCode])).toEqual([['unauthorized', 4401]]);
      expect(errors[0]!.message).toContain(`HTTP ${status}`);
      for (const text of texts) expect(text).not.toContain('secret-token');
    },
  );
});

describe('the token over websocket', () => {
  it('travels in the hello frame, not in the URL nor a header of the upgrade', async () => {
    const seen: Array<string | undefined> = [];
    const s = await recorded({
      authenticate: (token) => {
        seen.push(token);
        return token === TOKEN;
      },
    });
    const frames: string[] = [];
    class Recording extends WebSocket {
      override send(data: unknown, ...rest: unknown[]): void {
        frames.push(String(data));
        (super.send as (...a: unknown[]) => void)(data, ...rest);
      }
    }
    const c = client(s.url, {
      transports: ['websocket'],
      auth: () => TOKEN,
      env: { WebSocket: Recording as unknown as typeof globalThis.WebSocket },
    });
    await waitFor(() => c.state === 'open', { what: 'open with the token' });
    expect(seen).toEqual([TOKEN]);
    expect(JSON.parse(frames[0]!)).toMatchObject({ t: 'hello', token: TOKEN });
    expect(s.requests.map((r) => r.method)).toEqual(['UPGRADE']);
    expect(s.requests[0]!.url).not.toContain(TOKEN);
    expect(JSON.stringify(s.requests[0]!.headers)).not.toContain(TOKEN);
  });
});
