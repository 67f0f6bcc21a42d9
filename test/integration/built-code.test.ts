// @vitest-environment node
// The client's variants (transports, protocols) are objects behind one interface, chosen at
// construction: nothing branches on their names (issue 14). Checked on the BUILT code, so that
// what ships holds it, whatever the sources look like: dist/index.js, dist/core.js and the chunks
// they import, and the IIFE. `npm test` builds first.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** An ESM file of dist/ and every dist/ chunk it imports, transitively (stale chunks of earlier builds are not read). */
function withChunks(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/from '(\.\/[^']+\.js)'|import '(\.\/[^']+\.js)'/g))
    withChunks(join(dirname(file), (m[1] ?? m[2])!), seen);
  return seen;
}

/** The names of the built-in transports and protocols: a comparison with one of them is a branch on a variant. */
const NAMES = '(?:websocket|sse|fetch-stream|long-poll|v1|plain)';
const RULES = [
  {
    what: 'a comparison with a transport or protocol name',
    re: new RegExp(`[!=]==?\\s*["'\`]${NAMES}["'\`]|["'\`]${NAMES}["'\`]\\s*[!=]==?|case\\s*["'\`]${NAMES}["'\`]`, 'g'),
  },
  // A read of `.plain` or any use of `#plain`; not the IIFE's export `Realtime.plain = …`.
  { what: 'a plain-mode flag (a property or field named plain)', re: /#plain\b|\.plain\b(?!\s*=(?!=))/g },
];

function offences(text: string): string[] {
  const found: string[] = [];
  for (const { what, re } of RULES)
    for (const m of text.matchAll(re))
      found.push(`${what}: …${text.slice(Math.max(0, m.index - 60), m.index + 60).replace(/\s+/g, ' ')}…`);
  return found;
}

describe('built client code never branches on a transport or protocol name', () => {
  const files = [
    ...withChunks(join(root, 'dist/index.js')),
    ...withChunks(join(root, 'dist/core.js')),
    join(root, 'dist/realtime.min.js'),
  ];

  it('reads the built entries and the chunks they import', () => {
    for (const f of files) expect(existsSync(f), `${f} is missing: run \`npm run build\` first`).toBe(true);
    expect(files.length).toBeGreaterThan(3);
  });

  it.each([...new Set(files)].map((f) => [f.slice(root.length + 1), f]))('%s', (_name, file) => {
    expect(offences(readFileSync(file, 'utf8'))).toEqual([]);
  });

  it('the rules catch what they are for', () => {
    expect(offences(`if (o.protocol === 'plain') x();`)).toHaveLength(1);
    expect(offences(`t.name!=="websocket"&&y()`)).toHaveLength(1);
    expect(offences(`switch (n) { case 'long-poll': }`)).toHaveLength(1);
    expect(offences(`this.#plain = true; ctx.plain && z();`)).toHaveLength(2);
    expect(offences(`const t = { name: 'sse', protocol: 'v1' }; e.plain=U;`)).toEqual([]);
  });
});
