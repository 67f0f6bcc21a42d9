// @vitest-environment node
// The per-address limits of the PHP server (docs/protocol.md §12), which the conformance kit
// cannot check (it does not know a server's numbers): sessions per client address, counted in
// the SQLite file that the WebSocket daemon and the HTTP scripts share, so a client cannot get
// past the limit by spreading its sessions over both; and connections waiting for their hello
// per address, refused with 4429 on WebSocket and 429 over HTTP.
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { usePhp } from './php-harness';
import { wsText } from './raw-client';

const php = usePhp({ fpm: false });
const sockets: WebSocket[] = [];
afterEach(() => {
  for (const ws of sockets.splice(0)) ws.terminate();
});

const HELLO = '{"t":"hello","v":[1],"a":0}';

interface Frame {
  t: string;
  code?: number;
  reason?: string;
}

/** A WebSocket to the daemon, once open, with the frames it got (a refusal can come with the opening). */
interface Socket {
  ws: WebSocket;
  /** The next frame not yet taken. */
  next(): Promise<Frame>;
}

function openWebSocket(url: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'));
    sockets.push(ws);
    const frames: Frame[] = [];
    let wake = (): void => {};
    ws.on('message', (data) => {
      frames.push(JSON.parse(wsText(data)) as Frame);
      wake();
    });
    const next = async (): Promise<Frame> => {
      while (frames.length === 0) await new Promise<void>((r) => (wake = r));
      return frames.shift()!;
    };
    ws.once('open', () => resolve({ ws, next }));
    ws.once('error', reject);
  });
}

/** Sends hello; resolves with the first frame that comes back. */
function sayHello(socket: Socket): Promise<Frame> {
  socket.ws.send(HELLO);
  return socket.next();
}

const webSocketHello = async (url: string): Promise<Frame> => sayHello(await openWebSocket(url));

/** POSTs hello on a long-poll link; resolves with the first frame of the answer. */
async function postHello(url: string, link: string): Promise<Frame> {
  const answer = await fetch(`${url}?link=${link}&wait=5000`, { method: 'POST', body: HELLO });
  expect(answer.status).toBe(200);
  return JSON.parse((await answer.text()).split('\n')[0]!) as Frame;
}

async function openLink(url: string): Promise<string> {
  const opened = await fetch(`${url}?transport=long-poll`);
  expect(opened.status).toBe(200);
  return ((await opened.json()) as { id: string }).id;
}

const longPollHello = async (url: string): Promise<Frame> => postHello(url, await openLink(url));

describe("the PHP server's per-address limits", () => {
  it('maxSessionsPerIp counts the sessions of the daemon and of the HTTP scripts together', async () => {
    const stack = await php.start({ app: 'conformance', settings: { maxSessionsPerIp: 2, heartbeatInterval: 60_000 } });
    const url = (await stack.daemon({ upstream: (await stack.builtin(8)).port })).url;

    expect((await webSocketHello(url)).t).toBe('welcome');
    expect((await longPollHello(url)).t).toBe('welcome');
    // Two sessions from this address, one on each side: the third is refused on either.
    expect(await webSocketHello(url)).toMatchObject({ t: 'close', code: 4429 });
    expect(await longPollHello(url)).toMatchObject({ t: 'close', code: 4429 });
  }, 30_000);

  it('maxPendingPerIp: connections still waiting for their hello, WebSocket and HTTP together', async () => {
    const stack = await php.start({
      app: 'conformance',
      settings: { maxPendingPerIp: 2, heartbeatInterval: 60_000, handshakeTimeout: 10_000 },
    });
    const url = (await stack.daemon({ upstream: (await stack.builtin(8)).port })).url;

    const waiting = await openWebSocket(url);
    const link = await openLink(url);
    // Two waiting, one on each side: a third is refused on either, at once.
    const third = await openWebSocket(url);
    expect(await third.next()).toMatchObject({ t: 'close', code: 4429 });
    const refused = await fetch(`${url}?transport=long-poll`);
    expect(refused.status).toBe(429);
    await refused.body?.cancel();
    // The two waiting were admitted all along: their hellos get welcome.
    expect((await sayHello(waiting)).t).toBe('welcome');
    expect((await postHello(url, link)).t).toBe('welcome');
  }, 30_000);
});
