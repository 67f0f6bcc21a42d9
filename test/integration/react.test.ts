// @vitest-environment happy-dom
// realtime-client/react against the real reference server (port 0), rendered by react-dom into
// happy-dom's document. Connections are counted where they land: WebSocket upgrades on the
// server's HTTP server and sessions opened by the RealtimeServer.
//   1. Under StrictMode (state built twice, effect run, cleaned up and run again) one connection
//      opens, the state goes connecting -> open without passing through closed, and the messages a
//      child sends from its own effect during that double run are delivered, not rejected.
//   2. Unmounting closes the connection: the client is closed and the server's session ends.
//   3. A new URL replaces the client: the old one is closed, the new one opens.
import { createElement, StrictMode, useEffect } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { useRealtime, type UseRealtime, type UseRealtimeOptions } from '../../src/react';
import type { ConnectionState } from '../../src/index';
import { testScope, type Running } from './harness';
import { waitFor } from '../wait';

const scope = testScope();
const env = { WebSocket: WebSocket as unknown as typeof globalThis.WebSocket };

/** The server, counting WebSocket upgrades and sessions, recording app messages and ended sessions. */
async function server() {
  const s: Running = await scope.server();
  const seen = { upgrades: 0, sessions: 0, ended: 0, messages: [] as unknown[] };
  s.http.prependListener('upgrade', () => seen.upgrades++);
  s.rt.on('connection', (session) => {
    seen.sessions++;
    session.on('message', (data: unknown) => seen.messages.push(data));
    session.on('close', () => seen.ended++);
  });
  return { ...s, seen };
}

let root: Root | undefined;
afterEach(() => {
  root?.unmount();
  root = undefined;
});

/** What the component saw: its hook result on every render, and each state it rendered. */
interface Seen {
  last?: UseRealtime;
  states: ConnectionState[];
  /** 'resolved', or 'rejected: <the error>', for each send() a child made. */
  sent: string[];
}

function App({
  url,
  options,
  seen,
  sendOnMount,
}: {
  url: string;
  options: UseRealtimeOptions;
  seen: Seen;
  sendOnMount?: boolean;
}) {
  const rt = useRealtime(url, options);
  seen.last = rt;
  if (seen.states.at(-1) !== rt.state) seen.states.push(rt.state);
  return createElement(sendOnMount ? Sender : 'p', { client: rt.client, seen }, rt.state);
}

/** Sends from its effect: a child's effect runs before its parent's, so before the hook connects. */
function Sender({ client, seen, children }: { client: UseRealtime['client']; seen: Seen; children?: unknown }) {
  useEffect(() => {
    client.send({ hello: 'from a child effect' }).then(
      () => seen.sent.push('resolved'),
      (err: unknown) => seen.sent.push(`rejected: ${String(err)}`),
    );
  }, [client, seen]);
  return createElement('p', null, children as string);
}

/** Renders `element` under StrictMode, as every test here does. */
function render(element: ReturnType<typeof createElement>) {
  root ??= createRoot(document.body.appendChild(document.createElement('div')));
  root.render(createElement(StrictMode, null, element));
}

describe('realtime-client/react', () => {
  it('1. under StrictMode one connection opens, the state never passes through closed, and sends from a child effect are delivered', async () => {
    const s = await server();
    const seen: Seen = { states: [], sent: [] };
    const options: UseRealtimeOptions = { transports: ['websocket'], env };
    render(createElement(App, { url: s.url, options, seen, sendOnMount: true }));

    // StrictMode runs the child's effect twice too (React does; the hook cannot stop it): two sends.
    await waitFor(() => seen.sent.length === 2, { what: 'both child sends settled' });
    expect(seen.sent).toEqual(['resolved', 'resolved']);
    await waitFor(() => seen.last?.state === 'open' && s.seen.messages.length === 2, {
      what: 'open, both child messages at the server',
    });
    const client = seen.last!.client;
    // Anything StrictMode opened twice would have reached the server by the time an ack came back.
    expect(s.seen.upgrades, 'WebSocket upgrades at the server').toBe(1);
    expect(s.seen.sessions, 'sessions at the server').toBe(1);
    expect(s.seen.messages).toEqual([{ hello: 'from a child effect' }, { hello: 'from a child effect' }]);
    expect(seen.states, 'states the component rendered').toEqual(['closed', 'connecting', 'open']);
    expect(document.body.textContent).toBe('open');

    await client.send({ i: 2 });
    expect(s.seen.messages).toHaveLength(3);
    expect(s.seen.upgrades).toBe(1);
  });

  it('2. unmounting closes the connection, and the server ends its session', async () => {
    const s = await server();
    const seen: Seen = { states: [], sent: [] };
    render(createElement(App, { url: s.url, options: { transports: ['websocket'], env }, seen }));
    await waitFor(() => seen.last?.state === 'open' && s.seen.sessions === 1, { what: 'open' });
    const client = seen.last!.client;

    root!.unmount();
    root = undefined;
    await waitFor(() => client.state === 'closed' && s.seen.ended === 1, {
      what: 'the client closed and the server ended its session',
    });
    expect(s.seen.sessions).toBe(1);
  });

  it('3. a new URL closes the old client and opens a new one', async () => {
    const a = await server();
    const b = await server();
    const seen: Seen = { states: [], sent: [] };
    const options: UseRealtimeOptions = { transports: ['websocket'], env };
    render(createElement(App, { url: a.url, options, seen }));
    await waitFor(() => seen.last?.state === 'open', { what: 'open on the first server' });
    const first = seen.last!.client;

    render(createElement(App, { url: b.url, options, seen }));
    await waitFor(() => seen.last?.client !== first && seen.last?.state === 'open' && first.state === 'closed', {
      what: 'the second client open, the first closed',
    });
    expect(seen.last!.client.url).toBe(b.url);
    await waitFor(() => a.seen.ended === 1, { what: 'the first server ended its session' });
    expect([a.seen.sessions, b.seen.sessions]).toEqual([1, 1]);
  });
});
