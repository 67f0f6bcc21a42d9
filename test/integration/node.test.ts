// The client in Node 20, as README's "Where it runs" says: the built package (dist/index.js, as
// `import 'realtime-client'` gets it) against the real reference server on port 0.
//   1. env: { WebSocket } from 'ws': the default transport list opens on websocket;
//   2. no env at all: Node 20 has fetch but neither WebSocket nor EventSource, so the client
//      leaves websocket and sse out of its list and opens on fetch-stream; long-poll works too;
//   3. where EventSource is missing, sse is left out and the next transport of the list opens;
//      with sse alone, the client closes with an 'unsupported' error that names options.env.
// Each time messages go both ways and every send() resolves (acknowledged by the server).
import { existsSync } from 'node:fs';
import { WebSocket } from 'ws';
import { beforeAll, describe, expect, it } from 'vitest';
import type * as Client from '../../src/index';
import { testScope } from './harness';
import { waitFor } from '../wait';

const scope = testScope();
let lib: typeof Client;

beforeAll(async () => {
  const built = new URL('../../dist/index.js', import.meta.url);
  expect(existsSync(built), 'dist/index.js is missing: run `npm run build` first').toBe(true);
  lib = (await import(/* @vite-ignore */ built.href)) as typeof Client;
});

/** A client of the built package on a server that echoes every message and pushes one on connect. */
async function connect(options: Client.ClientOptions) {
  const s = await scope.server();
  const atServer: unknown[] = [];
  s.rt.on('connection', (session) => {
    session.send({ hello: 'from the server' });
    session.on('message', (data: unknown) => {
      atServer.push(data);
      session.send({ echo: data });
    });
  });
  const client = new lib.RealtimeClient(s.url, { reconnect: { initialDelay: 20, maxDelay: 200 }, ...options });
  scope.defer(() => client.close());
  const received: unknown[] = [];
  client.on('message', (m) => received.push(m));
  return { client, received, atServer };
}

/** Sends `n` messages: each resolves, reaches the server once, in order, and comes back. */
async function exchange(c: Awaited<ReturnType<typeof connect>>, n: number) {
  const sent = Array.from({ length: n }, (_, i) => ({ i }));
  await Promise.all(sent.map((m) => c.client.send(m)));
  expect(c.atServer).toEqual(sent);
  await waitFor(() => c.received.length === n + 1, { what: `${n} echoes` });
  expect(c.received).toEqual([{ hello: 'from the server' }, ...sent.map((m) => ({ echo: m }))]);
}

describe('the built client in Node 20', () => {
  it("1. env: { WebSocket } from 'ws': opens on websocket, messages both ways, acknowledged", async () => {
    const c = await connect({ env: { WebSocket: WebSocket as unknown as typeof globalThis.WebSocket } });
    await waitFor(() => c.client.state === 'open', { what: 'open' });
    expect(c.client.transport).toBe('websocket');
    await exchange(c, 20);
  });

  it("2. no env: Node's fetch carries fetch-stream (websocket and sse left out), and long-poll", async () => {
    expect([typeof globalThis.WebSocket, typeof globalThis.EventSource], 'Node 20 has neither').toEqual([
      'undefined',
      'undefined',
    ]);
    const stream = await connect({});
    await waitFor(() => stream.client.state === 'open', { what: 'open' });
    expect(stream.client.transport).toBe('fetch-stream');
    await exchange(stream, 20);

    const poll = await connect({ transports: ['long-poll'] });
    await waitFor(() => poll.client.state === 'open', { what: 'open' });
    expect(poll.client.transport).toBe('long-poll');
    await exchange(poll, 20);
  });

  it('3. without EventSource, sse is left out and the next transport opens', async () => {
    const c = await connect({ transports: ['sse', 'long-poll'] });
    await waitFor(() => c.client.state === 'open', { what: 'open' });
    expect(c.client.transport).toBe('long-poll');
    await exchange(c, 5);

    // sse alone: nothing to open with, and the error says what to do.
    const alone = new lib.RealtimeClient(c.client.url, { transports: ['sse'], autoConnect: false });
    const errors: Client.RealtimeError[] = [];
    alone.on('error', (e) => errors.push(e));
    alone.connect();
    await waitFor(() => alone.state === 'closed' && errors.length === 1, {
      what: "the client closed with an 'unsupported' error",
    });
    expect(errors[0]).toMatchObject({
      code: 'unsupported',
      message: expect.stringMatching(/sse.*options\.env/) as unknown,
    });
  });
});
