// @vitest-environment node
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CASES } from '../../src/conformance/catalog';
import { blocks, normalise, requirements } from './requirements';

/**
 * Every MUST and SHOULD of docs/protocol.md has a case of the conformance kit, or a stated
 * reason why none can exist (a rule for clients only, or one no client can observe), through the
 * requirements table of docs/conformance.md. A new MUST without a row fails here.
 */

const read = (path: string): string => readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');
const protocol = read('docs/protocol.md');
const conformance = read('docs/conformance.md');

interface Row {
  section: string;
  quote: string;
  cover: string;
}

/** The rows of the requirements table: `| §N | quote | cases or reason |`. */
function rows(markdown: string): Row[] {
  const start = markdown.indexOf('## Requirements of docs/protocol.md');
  const end = markdown.indexOf('\n## ', start + 1);
  const out: Row[] = [];
  for (const line of markdown.slice(start, end < 0 ? undefined : end).split('\n')) {
    const cells = /^\| (§[\d.]+) \| (.+) \| (.+) \|$/.exec(line.replace(/\\\|/g, '\u0000'));
    if (cells) out.push({ section: cells[1]!, quote: normalise(cells[2]!.replace(/\u0000/g, '|')), cover: cells[3]! });
  }
  return out;
}

const ID = /V1-[A-Z0-9]+-\d{3}/g;
const table = rows(conformance);
const sectionBlocks = blocks(protocol);

describe('conformance kit: coverage of docs/protocol.md', () => {
  it('finds the requirements and the table (the parsers work)', () => {
    expect(requirements(protocol).length).toBeGreaterThan(40);
    expect(table.length).toBeGreaterThan(40);
  });

  it('every MUST, MUST NOT, SHOULD and SHOULD NOT of docs/protocol.md is quoted in a row of docs/conformance.md', () => {
    const uncovered = requirements(protocol).filter(
      (r) =>
        !table.some((row) => {
          if (row.section !== r.section) return false;
          const at = r.block.indexOf(row.quote);
          return at >= 0 && at <= r.at && r.at < at + row.quote.length;
        }),
    );
    expect(
      uncovered.map((r) => `${r.section} ${r.keyword}: …${r.block.slice(Math.max(0, r.at - 80), r.at + 80)}…`),
    ).toEqual([]);
  });

  it('every row quotes docs/protocol.md as it is now, in the section it names', () => {
    const stale = table.filter(
      (row) => !sectionBlocks.some((b) => b.section === row.section && b.text.includes(row.quote)),
    );
    expect(stale.map((r) => `${r.section}: ${r.quote}`)).toEqual([]);
  });

  it('every row names cases that exist, or says why no case can (client: / unobservable:)', () => {
    const ids = new Set(CASES.map((c) => c.id));
    for (const row of table) {
      const named = row.cover.match(ID) ?? [];
      if (named.length === 0) expect(row.cover, `${row.section} ${row.quote}`).toMatch(/^(client|unobservable): \S/);
      for (const id of named) expect(ids.has(id), `${id} (row ${row.section} ${row.quote})`).toBe(true);
    }
  });

  it('every MUST row names at least one case unless it is a client rule or unobservable', () => {
    const must = table.filter((row) => /\bMUST\b/.test(row.quote) && !/^(client|unobservable):/.test(row.cover));
    for (const row of must) expect(row.cover.match(ID), `${row.section} ${row.quote}`).not.toBeNull();
  });

  it('the case table of docs/conformance.md lists every case with its level and section', () => {
    const missing = CASES.filter((c) => !conformance.includes(`| ${c.section} | ${c.id} | ${c.level} |`));
    expect(missing.map((c) => c.id)).toEqual([]);
  });
});

describe('conformance kit: the catalog', () => {
  it('has unique, well-formed ids, known levels, sections that exist in docs/protocol.md, and one-line titles', () => {
    const ids = CASES.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    const sections = new Set(sectionBlocks.map((b) => b.section));
    for (const c of CASES) {
      expect(c.id).toMatch(/^V1-[A-Z]+-\d{3}$/);
      expect(['MUST', 'SHOULD', 'MAY']).toContain(c.level);
      expect(sections.has(c.section), `${c.id}: ${c.section}`).toBe(true);
      expect(c.title.length).toBeGreaterThan(10);
      expect(c.title).not.toContain('\n');
    }
  });

  it('docs/conformance.md shows the example application exactly as shipped', () => {
    expect(conformance).toContain(read('examples/conformance-server.mjs').trimEnd());
  });
});
