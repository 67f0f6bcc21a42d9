// @vitest-environment node
// The PHP server learns that a client left only when a write fails, and the first write after
// it left usually goes through. So a poll answer it writes to a client that is gone must not
// count as delivered: its frames stay queued for the next poll (docs/protocol.md §14.4 point 1;
// examples/php/README.md "Dead clients"). Here the client aborts its held poll and waits until
// the server has answered into the void before it polls again, on both ways of running PHP.
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { PHP_SETUPS, usePhp } from './php-harness';
import { waitFor } from '../wait';

const php = usePhp({ fpm: true });

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

const frames = (body: string) =>
  body
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { t: string; s?: number; d?: unknown[] });

describe('a poll whose client is gone (PHP server)', () => {
  it.each(PHP_SETUPS)(
    '$name: the answer it could not deliver comes with the next poll',
    async ({ start }) => {
      const stack = await php.start({
        app: 'conformance',
        settings: { heartbeatInterval: 60_000, pollTimeout: 20_000 },
      });
      const url = await start(stack);
      const link = (JSON.parse((await send(`${url}?transport=long-poll`, 'GET')).body) as { id: string }).id;
      // Whether the link has a poll held, by the database the server keeps its state in.
      const pollHeld = async () =>
        (await stack.query('SELECT poll_id FROM conns WHERE id = ?', link))[0]?.poll_id != null;
      const welcome = frames((await send(`${url}?link=${link}&wait=5000`, 'POST', '{"t":"hello","v":[1],"a":0}')).body);
      expect(welcome.map((f) => f.t)).toEqual(['welcome']);

      // A poll held, then abandoned by its client.
      const abort = new AbortController();
      const held = send(`${url}?link=${link}&wait=20000`, 'POST', '', abort.signal).catch((err: Error) => err);
      await waitFor(pollHeld, { what: 'the poll to be held', timeout: 10_000, retryErrors: true });
      abort.abort();
      expect(await held).toBeInstanceOf(Error);
      // The front (the daemon's relay, nginx) must have seen the abort before the answer is written,
      // or the answer would go out to a live front and be delivered as far as anyone can tell. PHP
      // cannot notice it without writing, so the database shows nothing to wait for: a fixed wait,
      // the only one here, many times what a local FIN takes.
      await new Promise((r) => setTimeout(r, 300));

      // Three messages for the link: the abandoned poll wakes and writes them into the void.
      expect((await send(`${url}?link=${link}`, 'POST', '{"t":"msg","s":1,"d":[{"cmd":"push","n":3}]}')).status).toBe(
        204,
      );
      // The abandoned poll woke, wrote its answer into the void and finished: no longer held, no rows taken.
      await waitFor(
        async () =>
          !(await pollHeld()) &&
          (await stack.query('SELECT 1 FROM outbox WHERE conn = ? AND taken_by IS NOT NULL', link)).length === 0,
        { what: 'the abandoned poll to finish its answer', timeout: 10_000, retryErrors: true },
      );

      // The next poll gets them: they were not counted as delivered.
      const next = frames((await send(`${url}?link=${link}&wait=5000`, 'POST', '')).body);
      const pushed = next.filter((f) => f.t === 'msg').flatMap((f) => f.d ?? []);
      expect(pushed).toEqual([{ push: 1 }, { push: 2 }, { push: 3 }]);
    },
    30_000,
  );
});
