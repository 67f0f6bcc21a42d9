// Type tests, checked by `npm run typecheck` (tsc over test/): each line marked @ts-expect-error
// must fail to compile, and every other line must compile; tsc fails either way otherwise.
// Nothing here runs.
import { RealtimeClient, type RealtimeError } from '../../src/index';
import { RealtimeClient as CoreClient } from '../../src/core';

interface ChatIn {
  from: string;
  text: string;
}
interface ChatOut {
  text: string;
}

export function typed(): void {
  const client = new RealtimeClient<ChatIn, ChatOut>('/realtime');
  client.on('message', (m) => {
    const text: string = m.text;
    const from: string = m.from;
    // @ts-expect-error an incoming message has no field the type does not name
    void m.missing;
    void [text, from];
  });
  void client.send({ text: 'hi' });
  // @ts-expect-error an outgoing message must be a ChatOut
  void client.send({ body: 'hi' });
  // @ts-expect-error not even a string
  void client.send('hi');

  client.addEventListener('message', (e) => {
    const text: string = e.detail.text;
    void text;
  });
  client.addEventListener('error', (e) => {
    const error: RealtimeError = e.detail;
    void error;
  });
  client.addEventListener('state', (e) => {
    // @ts-expect-error the detail of 'state' is {from, to}
    void e.detail.text;
  });
  // Any other event name still type-checks, as on every EventTarget.
  client.addEventListener('custom', (e: Event) => void e);

  // state and transport are read-only.
  // @ts-expect-error state is read-only
  client.state = 'open';
  // @ts-expect-error transport is read-only
  client.transport = 'sse';
}

export async function awaitable(): Promise<void> {
  const client = new CoreClient<ChatIn>('wss://example.test/realtime');
  const opened = await client.once('open');
  const resumed: boolean = opened.resumed;
  const next: ChatIn = await client.once('message');
  // @ts-expect-error once() takes only the client's event names
  await client.once('opened');
  void [resumed, next];
}

export function untyped(): void {
  // Without type arguments: messages are unknown, and anything JSON goes out.
  const client = new RealtimeClient('/realtime');
  client.on('message', (m) => {
    // @ts-expect-error unknown until narrowed
    void m.text;
  });
  void client.send({ any: ['thing', 1] });
}
