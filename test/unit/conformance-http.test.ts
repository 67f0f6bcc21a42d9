// @vitest-environment node
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchText } from '../../src/conformance/http';

/**
 * The kit's plain HTTP client against a server that misbehaves at the TCP level. The server runs
 * in another process: in this one it would read between the kit's writes and the race would not
 * show.
 */
const EARLY_ANSWER_THEN_RESET = `
  const server = require('node:net').createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      socket.write('HTTP/1.1 413 Payload Too Large\\r\\nContent-Length: 0\\r\\n\\r\\n');
      setTimeout(() => socket.resetAndDestroy(), 5);
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;

let child: ChildProcess | null = null;
afterEach(() => {
  child?.kill();
  child = null;
});

describe("the kit's HTTP client", () => {
  it('a server that answers before the body is in and then resets the connection gives each request an outcome, and no uncaught error', async () => {
    child = spawn(process.execPath, ['-e', EARLY_ANSWER_THEN_RESET]);
    const port = await new Promise<string>((resolve) =>
      child!.stdout!.once('data', (d: Buffer) => resolve(String(d).trim())),
    );
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      for (let i = 0; i < 20; i++) {
        const outcome = await fetchText(`http://127.0.0.1:${port}/`, {
          method: 'POST',
          body: 'x'.repeat(8 * 1024 * 1024),
        }).then(
          (r) => r.status,
          (err: NodeJS.ErrnoException) => err.code,
        );
        expect([413, 'ECONNRESET', 'EPIPE']).toContain(outcome);
      }
      await new Promise((resolve) => setImmediate(resolve)); // let a late socket error surface
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
  });
});
