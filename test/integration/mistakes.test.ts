// @vitest-environment node
// The common mistakes of a first hour, each as a user makes it, and the message the user then
// sees: README's "Common mistakes" table quotes these messages, and this file is what produces
// them (the real client in Node, with `ws`, against the real server or a port nobody serves).
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { describe, expect, it } from 'vitest';
import { RealtimeClient, type RealtimeError } from '../../src/index';
import { testScope } from './harness';
import { waitFor } from '../wait';

const scope = testScope();

/** A port that was free a moment ago and that nobody listens on now. */
async function deadPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A client's errors, as the user's 'error' listener gets them. */
function errorsOf(c: RealtimeClient): RealtimeError[] {
  const errors: RealtimeError[] = [];
  c.on('error', (e) => errors.push(e));
  return errors;
}

describe('common mistakes and what the user sees', () => {
  it('the server is not running: "Could not connect", with what a 1006 may mean, then the give-up says so too', async () => {
    const url = `ws://127.0.0.1:${await deadPort()}/realtime`;
    const c = scope.client(url, {
      transports: ['websocket'],
      reconnect: { initialDelay: 10, maxDelay: 20, maxAttempts: 2 },
    });
    const errors = errorsOf(c);
    await waitFor(() => c.state === 'closed', { what: 'the give-up' });
    expect(errors.map((e) => e.message)).toEqual([
      'Could not connect (websocket: 1006 no WebSocket opened: server not running, wrong path, or upgrade refused); retrying',
      'Could not connect (websocket: 1006 no WebSocket opened: server not running, wrong path, or upgrade refused); retrying',
      // The third attempt fails too, and is the last one maxAttempts allows:
      'Could not connect (1006 no WebSocket opened: server not running, wrong path, or upgrade refused) after 2 retries, the most reconnect allows: check the URL and that the server runs, then call connect()',
    ]);
    expect(errors.map((e) => e.code)).toEqual(['connect-failed', 'connect-failed', 'reconnect-failed']);
  });

  it('a wrong path on the reference server: refused at once (HTTP 400), not a timeout seconds later', async () => {
    const s = await scope.server();
    const c = scope.client(s.url.replace('/realtime', '/realtim'), { transports: ['websocket'] });
    const errors = errorsOf(c);
    const t0 = Date.now();
    await waitFor(() => errors.length > 0, { what: 'the first error' });
    expect(errors[0]!.message).toBe(
      'Could not connect (websocket: 1006 no WebSocket opened: server not running, wrong path, or upgrade refused); retrying',
    );
    expect(Date.now() - t0).toBeLessThan(5000); // the handshake timeout would be 10 s
  });

  it('an endpoint that accepts the WebSocket but never answers hello: "handshake timeout", not "heartbeat timeout"', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    scope.defer(() => new Promise((resolve) => wss.close(resolve)));
    await new Promise((resolve) => wss.once('listening', resolve));
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/realtime`;
    const c = scope.client(url, { transports: ['websocket'], heartbeat: { timeout: 300 } });
    const errors = errorsOf(c);
    await waitFor(() => errors.length > 0, { what: 'the first error' });
    expect(errors[0]!.message).toBe(
      'Could not connect (websocket: 4408 handshake timeout: no answer from the server within 300 ms (heartbeat.timeout)); retrying',
    );
  });

  it("a page's Origin not in allowedOrigins: the server's reason, and no retries", async () => {
    const s = await scope.server({ allowedOrigins: ['https://app.example.com'] });
    const c = new RealtimeClient(s.url, {
      transports: ['websocket'],
      env: {
        // What a browser on http://localhost:5173 sends; Node's ws sends the Origin it is given.
        WebSocket: class extends (await import('ws')).WebSocket {
          constructor(address: string) {
            super(address, { origin: 'http://localhost:5173' });
          }
        } as unknown as typeof WebSocket,
      },
    });
    scope.defer(() => c.close());
    const errors = errorsOf(c);
    await waitFor(() => c.state === 'closed', { what: 'the give-up' });
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      [
        'connection-refused',
        'Server closed with 4403 origin not allowed (do not reconnect): fix the cause, then call connect()',
      ],
    ]);
  });

  it('a misspelt option or a URL without its scheme: thrown by the constructor, naming what is accepted', () => {
    expect(() => new RealtimeClient('ws://127.0.0.1:1/realtime', { reconect: false } as never)).toThrow(
      'unknown option reconect: did you mean reconnect? (the options are transports, protocol, autoConnect, reconnect, heartbeat, queue, auth, ackDelay, fallbackAfter, probeInterval, upgrade, lifecycle, maxFrameSize, share, env)',
    );
    expect(() => new RealtimeClient('localhost:8080/realtime')).toThrow(
      "bad URL 'localhost:8080/realtime': its scheme is localhost:, and the client takes ws://, wss://, http:// or https:// URLs, or a path such as '/realtime' in a page",
    );
  });
});
