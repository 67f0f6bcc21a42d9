// @vitest-environment node
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { plainPoll, plainStream, type ClientOptions } from '../../src/index';
import { testScope } from './harness';
import { waitFor } from '../wait';

/**
 * Plain mode against endpoints that know nothing of our protocol, as users' existing servers.
 */
const scope = testScope();

async function endpoint(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const http = createServer(handler);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  scope.defer(
    () =>
      new Promise<void>((r) => {
        http.closeAllConnections();
        http.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}/feed`;
}

const client = (url: string, options: ClientOptions) =>
  scope.client(url, { protocol: 'plain', reconnect: { initialDelay: 20, maxDelay: 100 }, ...options });

/** An SSE endpoint that ends its stream after every 3 events, as servers behind short proxy timeouts do. */
function sseFeed(seenLastIds: Array<string | undefined>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const last = req.headers['last-event-id'] as string | undefined;
    seenLastIds.push(last);
    const from = last ? Number(last) + 1 : 1;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write('retry: 50\n\n');
    for (let n = from; n < from + 3 && n <= 9; n++) res.write(`id: ${n}\ndata: {"n":${n}}\n\n`);
    res.end();
  };
}

describe('plain mode', () => {
  it('sse: events arrive in order and the reconnect resumes from Last-Event-ID, honouring retry:', async () => {
    const lastIds: Array<string | undefined> = [];
    const url = await endpoint(sseFeed(lastIds));
    const c = client(url, { transports: ['sse'] });
    const got: unknown[] = [];
    c.on('message', (d) => got.push(d));
    await waitFor(() => got.length === 9, { what: 'nine events over three streams' });
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => ({ n })));
    expect(lastIds.slice(0, 3)).toEqual([undefined, '3', '6']);
  });

  it('fetch-stream: a text/event-stream response, reconnecting with the Last-Event-ID header itself', async () => {
    const lastIds: Array<string | undefined> = [];
    const url = await endpoint(sseFeed(lastIds));
    const c = client(url, { transports: ['fetch-stream'] });
    const got: unknown[] = [];
    c.on('message', (d) => got.push(d));
    await waitFor(() => got.length === 9, { what: 'nine events' });
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => ({ n })));
    expect(lastIds.slice(0, 3)).toEqual([undefined, '3', '6']);
  });

  it("resume state is each client's own: a second client of the same URL and the same transport object starts without the first one's Last-Event-ID", async () => {
    const lastIds: Array<string | undefined> = [];
    const url = await endpoint(sseFeed(lastIds));
    const shared = plainStream();
    const first = client(url, { transports: [shared] });
    const got: unknown[] = [];
    first.on('message', (d) => got.push(d));
    await waitFor(() => got.length === 9, { what: 'nine events' });
    first.close();
    const before = lastIds.length;
    const second = client(url, { transports: [shared] });
    const again: unknown[] = [];
    second.on('message', (d) => again.push(d));
    await waitFor(() => again.length >= 3, { what: "the second client's first stream" });
    expect(lastIds[before]).toBeUndefined();
    expect(again.slice(0, 3)).toEqual([1, 2, 3].map((n) => ({ n })));
  });

  it('fetch-stream: an NDJSON stream whose lines are split across chunks at awkward places', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ i, text: `line ${i} ✓` })).join('\n') + '\n';
    const trickle = async (res: ServerResponse) => {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      const bytes = Buffer.from(lines);
      // 7-byte chunks split JSON values and even the 3-byte UTF-8 check mark.
      for (let i = 0; i < bytes.length; i += 7) {
        res.write(bytes.subarray(i, i + 7));
        await new Promise((r) => setImmediate(r));
      }
    };
    // node:http ignores what a handler returns: the promise is dropped there as it always was.
    const url = await endpoint((_req, res) => void trickle(res));
    const c = client(url, { transports: ['fetch-stream'] });
    const got: unknown[] = [];
    c.on('message', (d) => got.push(d));
    await waitFor(() => got.length === 20, { what: 'twenty lines' });
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => ({ i, text: `line ${i} ✓` })));
  });

  it('long-poll: a polled JSON endpoint with ETag costs a 304 while unchanged, and sends the cursor', async () => {
    let version = 1;
    const requests: Array<{ since: string | null; ifNoneMatch?: string; status: number }> = [];
    const url = await endpoint((req, res) => {
      const since = new URL(req.url!, 'http://x').searchParams.get('since');
      const etag = `"v${version}"`;
      const status = req.headers['if-none-match'] === etag ? 304 : 200;
      requests.push({ since, ifNoneMatch: req.headers['if-none-match'], status });
      if (status === 304) return res.writeHead(304, { ETag: etag }).end();
      res.writeHead(200, { 'Content-Type': 'application/json', ETag: etag });
      res.end(JSON.stringify({ version, cursor: `c${version}` }));
    });
    const c = client(url, { transports: [plainPoll({ interval: 30 })] });
    const got: unknown[] = [];
    c.on('message', (d) => got.push(d));
    await waitFor(() => requests.length >= 4, { what: 'a few polls' });
    version = 2;
    await waitFor(() => got.length === 2, { what: 'the change' });
    expect(got).toEqual([
      { version: 1, cursor: 'c1' },
      { version: 2, cursor: 'c2' },
    ]);
    const unchanged = requests.slice(
      1,
      requests.findIndex((r) => r.status === 200 && r.since === 'c1'),
    );
    expect(unchanged.length).toBeGreaterThan(1);
    expect(unchanged.every((r) => r.status === 304 && r.ifNoneMatch === '"v1"' && r.since === 'c1')).toBe(true);
    expect(requests[0]).toEqual({ since: null, ifNoneMatch: undefined, status: 200 });
  });

  it('long-poll: a numeric cursor is sent as ?since=; one of another kind (an object) is not, the last good one stays', async () => {
    const cursors: unknown[] = [7, { page: 2 }, 'c9'];
    const sinces: Array<string | null> = [];
    const url = await endpoint((req, res) => {
      sinces.push(new URL(req.url!, 'http://x').searchParams.get('since'));
      const cursor = cursors[Math.min(sinces.length - 1, cursors.length - 1)];
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ n: sinces.length, cursor }));
    });
    const c = client(url, { transports: [plainPoll({ interval: 30 })] });
    await waitFor(() => sinces.length >= 4, { what: 'four polls' });
    c.close();
    // 7 → ?since=7; { page: 2 } is no cursor, so 7 again; then 'c9'.
    expect(sinces.slice(0, 4)).toEqual([null, '7', '7', 'c9']);
  });

  it('send() in plain mode POSTs the data to the endpoint and resolves once handed over', async () => {
    const bodies: string[] = [];
    const url = await endpoint((req, res) => {
      if (req.method === 'POST') {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          bodies.push(body);
          res.writeHead(204).end();
        });
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(':\n\n');
    });
    const c = client(url, { transports: ['fetch-stream'] });
    await waitFor(() => c.state === 'open', { what: 'open' });
    await c.send({ a: 1 });
    await c.send('raw text');
    await waitFor(() => bodies.length >= 1 && bodies.join('\n').split('\n').length === 2, { what: 'both bodies' });
    expect(bodies.join('\n')).toBe('{"a":1}\nraw text');
  });
});
