// Size budgets: size-budgets.json is the single source of truth ({ "file": maxBytes }), measured
// as min+gzip at level 9. Needs a build first (`npm run build`, which `npm test` runs).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { constants, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const budgets = JSON.parse(readFileSync(resolve(root, 'size-budgets.json'), 'utf8')) as Record<string, number>;

const fmt = (n: number) => `${n} B (${(n / 1024).toFixed(2)} KiB)`;

describe('size budgets (min+gzip -9, from size-budgets.json)', () => {
  it('lists at least one file', () => {
    expect(Object.keys(budgets).length).toBeGreaterThan(0);
  });

  for (const [file, budget] of Object.entries(budgets)) {
    it(`${file} ≤ ${fmt(budget)}`, () => {
      const path = resolve(root, file);
      expect(existsSync(path), `${file} does not exist: run \`npm run build\` first`).toBe(true);
      const raw = readFileSync(path);
      const gzipped = gzipSync(raw, { level: constants.Z_BEST_COMPRESSION }).length;
      const pct = ((gzipped / budget) * 100).toFixed(1);
      console.log(`[size] ${file}: ${fmt(raw.length)} raw, ${fmt(gzipped)} gzip -9, budget ${fmt(budget)} (${pct}%)`);
      expect(
        gzipped,
        `${file} is ${fmt(gzipped)} min+gzip, over its budget of ${fmt(budget)} by ${gzipped - budget} B ` +
          '(size-budgets.json)',
      ).toBeLessThanOrEqual(budget);
    });
  }
});
