// @vitest-environment node
// The PHP server learns that a client left only when a write fails, and the first write after
// it left usually goes through. So a poll answer it writes to a client that is gone must not
// count as delivered: its frames stay queued for the next poll (docs/protocol.md §14.4 point 1;
// examples/php/README.md "Dead clients"). Here the client aborts its held poll and waits until
// the server has answered into the void before it polls again, on both ways of running PHP.
import { request } from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureServices, INSTALL_TIMEOUT_MS } from '../services/index';
import { ensurePhp, ensurePhpFpm, startPhp, type PhpStack } from '../services/php';

beforeAll(async () => {
  await ensurePhp();
  await ensurePhpFpm();
  await ensureServices('nginx');
}, INSTALL_TIMEOUT_MS);

let php: PhpStack | undefined;
afterEach(async () => {
  await php?.destroy();
  php = undefined;
});

/** One request; `abort` aborts it once sent. */
function send(url: string, method: string, body = '', abort?: AbortSignal): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, signal: abort }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const frames = (body: string) => body.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { t: string; s?: number; d?: unknown[] });

const STACKS: Array<{ name: string; start: (php: PhpStack) => Promise<string> }> = [
  {
    name: 'php -S behind ws-daemon.php --http-upstream',
    async start(stack) {
      const builtin = await stack.builtin(8);
      return (await stack.daemon({ upstream: builtin.port })).url;
    },
  },
  {
    name: 'nginx + PHP-FPM',
    async start(stack) {
      const fpm = await stack.fpm();
      const nginx = await stack.site(fpm, await stack.daemon());
      return `${nginx.url}/realtime`;
    },
  },
];

describe('a poll whose client is gone (PHP server)', () => {
  it.each(STACKS)('$name: the answer it could not deliver comes with the next poll', async ({ start }) => {
    php = await startPhp({ app: 'conformance', settings: { heartbeatInterval: 60_000, pollTimeout: 20_000 } });
    const url = await start(php);
    const link = (JSON.parse((await send(`${url}?transport=long-poll`, 'GET')).body) as { id: string }).id;
    const welcome = frames((await send(`${url}?link=${link}&wait=5000`, 'POST', '{"t":"hello","v":[1],"a":0}')).body);
    expect(welcome.map((f) => f.t)).toEqual(['welcome']);

    // A poll held, then abandoned by its client.
    const abort = new AbortController();
    const held = send(`${url}?link=${link}&wait=20000`, 'POST', '', abort.signal).catch((err: Error) => err);
    await new Promise((r) => setTimeout(r, 300)); // held by now
    abort.abort();
    expect(await held).toBeInstanceOf(Error);
    await new Promise((r) => setTimeout(r, 300)); // the server has not noticed: it cannot, without writing

    // Three messages for the link: the abandoned poll wakes and writes them into the void.
    expect((await send(`${url}?link=${link}`, 'POST', '{"t":"msg","s":1,"d":[{"cmd":"push","n":3}]}')).status).toBe(204);
    await new Promise((r) => setTimeout(r, 500)); // the abandoned poll's answer was written by now

    // The next poll gets them: they were not counted as delivered.
    const next = frames((await send(`${url}?link=${link}&wait=5000`, 'POST', '')).body);
    const pushed = next.filter((f) => f.t === 'msg').flatMap((f) => f.d ?? []);
    expect(pushed).toEqual([{ push: 1 }, { push: 2 }, { push: 3 }]);
  }, 30_000);
});
