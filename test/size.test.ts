// Size budgets: size-budgets.json is the single source of truth ({ "entry": maxBytes }), measured
// as min+gzip at level 9. A `dist/` entry is measured as built (`npm run build`, which `npm test`
// runs); a `bench/size/` entry is an app importing the package, bundled and minified with esbuild
// as an app's bundler would (the same settings `npm run bench:size` uses for every library).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { bundleModules } from '../bench/lib/modules.mjs';
import { MARKERS } from '../bench/size.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const budgets = JSON.parse(readFileSync(resolve(root, 'size-budgets.json'), 'utf8')) as Record<string, number>;
/** The modules a WebSocket-only bundle must not hold, by feature (also read by `npm run bench:size`). */
const optIn = (
  JSON.parse(readFileSync(resolve(root, 'bench/size/goals.json'), 'utf8')) as { optIn: Record<string, string[]> }
).optIn;

const fmt = (n: number) => `${n} B (${(n / 1024).toFixed(2)} KiB)`;

async function minified(entry: string): Promise<Uint8Array> {
  if (entry.startsWith('dist/')) {
    const path = resolve(root, entry);
    expect(existsSync(path), `${entry} does not exist: run \`npm run build\` first`).toBe(true);
    return readFileSync(path);
  }
  const out = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'error',
    legalComments: 'none',
  });
  return out.outputFiles[0]!.contents;
}

describe('size budgets (min+gzip -9, from size-budgets.json)', () => {
  it('budgets the IIFE, the full ESM bundle, the WebSocket-only bundle and the full one with tab sharing', () => {
    expect(Object.keys(budgets).sort()).toEqual([
      'bench/size/ours-full.js',
      'bench/size/ours-share.js',
      'bench/size/ours-websocket.js',
      'dist/realtime.min.js',
    ]);
  });

  for (const [entry, budget] of Object.entries(budgets)) {
    it(`${entry} ≤ ${fmt(budget)}`, async () => {
      const code = await minified(entry);
      const gzipped = gzipSync(code, { level: constants.Z_BEST_COMPRESSION }).length;
      console.log(
        `[size] ${entry}: ${fmt(code.length)} min, ${fmt(gzipped)} min+gzip -9, budget ${fmt(budget)} (${((gzipped / budget) * 100).toFixed(1)}%)`,
      );
      expect(
        gzipped,
        `${entry} is ${fmt(gzipped)} min+gzip, over its budget of ${fmt(budget)} by ${gzipped - budget} B (size-budgets.json)`,
      ).toBeLessThanOrEqual(budget);
    });
  }
});

describe('opt-in features stay out of a WebSocket-only bundle', () => {
  it('realtime-client/core with websocket() bundles none of: ' + Object.keys(optIn).join(', '), async () => {
    // Built from src/ with esbuild's metafile, which names every module that put bytes in the output.
    const entry = `import { RealtimeClient, websocket } from './src/core.ts'; globalThis.client = new RealtimeClient('/realtime', { transports: [websocket()] });`;
    const bundled = (await bundleModules(root, entry)).files.map((f) => f.file);
    expect(bundled, 'the bundle is built from the sources').toContain('src/client/transports/websocket.ts');
    const found = Object.entries(optIn).flatMap(([feature, files]) =>
      files.filter((f) => bundled.includes(f)).map((f) => `${feature}: ${f}`),
    );
    expect(found).toEqual([]);
  });

  it('the WebSocket-only app bundle holds no string only the other transports use', async () => {
    const text = new TextDecoder().decode(await minified('bench/size/ours-websocket.js'));
    const found = MARKERS.filter((m) => (text.match(m.re) ?? []).length > 0).map((m) => m.what);
    expect(found, 'a name or string of the other transports is in the bundle: which code put it there?').toEqual([]);
  });
});

describe('tab sharing stays out of the entries that do not import it', () => {
  it("realtime-client (everything else included) bundles none of realtime-client/share's modules", async () => {
    const entry = `import { RealtimeClient } from './src/index.ts'; globalThis.client = new RealtimeClient('/realtime');`;
    const bundled = (await bundleModules(root, entry)).files.map((f) => f.file);
    expect(bundled, 'the bundle is built from the sources').toContain('src/client/client.ts');
    expect(bundled.filter((f) => optIn['tab sharing']!.includes(f))).toEqual([]);
  });
});
