// @vitest-environment node
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startServer, type Running } from './harness';
import { parseFrame, RawClient, type FrameOf } from './raw-client';

// Every random byte the server draws, to tell ids that come from the CSPRNG from ids that only
// look random (Math.random, a counter, a timestamp hashed).
const drawn = vi.hoisted(() => [] as Buffer[]);
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  const randomBytes = (size: number): Buffer => {
    const b = real.randomBytes(size);
    drawn.push(b);
    return b;
  };
  return { ...real, randomBytes, default: { ...real, randomBytes } };
});

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * What would turn text into code or markup. The client parses server data with JSON.parse only;
 * the browser test runs it under a strict CSP, and this check fails `npm test` without a browser.
 */
const FORBIDDEN: Array<[string, RegExp]> = [
  ['eval()', /(?<![\w$])eval\s*\(/],
  ['new Function', /\bnew\s+Function\b/],
  ['Function() called as a constructor', /(?<![\w$])Function\s*\(/],
  ['innerHTML / outerHTML', /\.(inner|outer)HTML\b/],
  ['insertAdjacentHTML', /insertAdjacentHTML/],
  ['document.write', /document\.write/],
  ['a <script> element (JSONP-style injection)', /createElement\s*\(\s*["'`]script/i],
  ['a string run as code by a timer', /set(Timeout|Interval)\s*\(\s*["'`]/],
];

describe('the built bundles never evaluate data', () => {
  it('dist/ (client ESM, CJS, IIFE and shared chunks, server) contains no eval, Function constructor, HTML sink or script injection', () => {
    const files = readdirSync(resolve(root, 'dist')).filter((f) => /\.(c?js)$/.test(f));
    // The client entry points must be there: scanning an empty or stale dist/ would prove nothing.
    expect(files, 'run `npm run build` first').toEqual(
      expect.arrayContaining(['index.js', 'index.cjs', 'core.js', 'core.cjs', 'realtime.min.js', 'server.js']),
    );
    const found: string[] = [];
    for (const file of files) {
      const code = readFileSync(resolve(root, 'dist', file), 'utf8');
      for (const [what, re] of FORBIDDEN) {
        const m = re.exec(code);
        if (m) found.push(`${file}: ${what} at ${m.index}: …${code.slice(Math.max(0, m.index - 40), m.index + 40)}…`);
      }
    }
    expect(found).toEqual([]);
  });
});

describe('server secrets', () => {
  let s: Running | undefined;
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await s?.close();
    s = undefined;
  });

  it('session ids, resume keys and HTTP link ids are ≥ 128 bits drawn from crypto.randomBytes, all distinct', async () => {
    s = await startServer();
    drawn.length = 0;
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const c = new RawClient(s.url);
      clients.push(c);
      const w = await c.hello();
      ids.push(w.sid, w.key);
    }
    const res = await fetch(`${s.base}?transport=long-poll`);
    ids.push((parseFrame((await res.text()).split('\n')[0]!) as FrameOf<'link'>).id);
    const fromCrypto = new Set(drawn.map((b) => b.toString('base64url')));
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(Buffer.from(id, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
      expect(fromCrypto.has(id), `${id} was not drawn from crypto.randomBytes`).toBe(true);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });
});
