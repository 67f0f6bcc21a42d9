// @vitest-environment node
// The packed tarball as the registry would get it (`npm pack` of the built dist/): what it holds,
// and what the two package linters say of it. @arethetypeswrong/cli checks that every entry's
// types resolve, and match the module format, under node10, node16 (from CommonJS and from ESM)
// and bundler resolution; publint --strict checks the package.json fields against the files.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
/** The fields of package.json that name files, of whatever shape: namedFiles() walks them. */
type PackageJson = Record<'exports' | 'main' | 'module' | 'types' | 'unpkg' | 'bin', unknown>;
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as PackageJson;
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
let dir = '';
let tarball = '';
let files: string[] = [];

beforeAll(async () => {
  expect(existsSync(join(root, 'dist/index.js')), 'run `npm run build` first').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'rt-package-'));
  // Scripts off: `prepare` would rebuild dist/ under the other test files that read it.
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: root,
    env: { ...process.env, npm_config_ignore_scripts: 'true' },
  });
  const [packed] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  tarball = join(dir, packed.filename);
  files = packed.files.map((f) => f.path).sort();
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every file path named by package.json: exports (all conditions), main, module, types, bin. */
function namedFiles(): string[] {
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (typeof value === 'string') found.push(value.replace(/^\.\//, ''));
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(pkg.exports);
  walk([pkg.main, pkg.module, pkg.types, pkg.unpkg, pkg.bin]);
  return [...new Set(found)];
}

/** The relative files a shipped JavaScript file imports or requires. */
function importsOf(file: string): string[] {
  const code = readFileSync(join(root, file), 'utf8');
  const specifiers = [...code.matchAll(/(?:from\s*|import\s*\(?\s*|require\s*\(\s*)['"](\.\/[^'"]+)['"]/g)].map(
    (m) => m[1]!,
  );
  return specifiers.map((s) => join(file, '..', s));
}

describe('the packed tarball', () => {
  it('holds the license, the README and docs it links to, and every file package.json names', () => {
    for (const file of ['LICENSE', 'README.md', 'package.json', ...namedFiles()]) expect(files, file).toContain(file);
    expect(files.filter((f) => /^(src|test|bench|demo|scripts)\//.test(f))).toEqual([]);
  });

  it('ships no stale build output: every JavaScript file is an entry or imported by one', () => {
    const reachable = new Set<string>();
    const queue = namedFiles().filter((f) => /\.c?js$/.test(f));
    while (queue.length) {
      const file = queue.pop()!;
      if (reachable.has(file)) continue;
      reachable.add(file);
      queue.push(...importsOf(file));
    }
    expect(files.filter((f) => /\.c?js$/.test(f) && !reachable.has(f))).toEqual([]);
  });

  it("README's relative links point to files in the tarball", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
      .map((m) => m[1]!)
      .filter((href) => !/^[a-z]+:/i.test(href));
    expect(links.length).toBeGreaterThan(0);
    expect(links.filter((href) => !files.includes(href.replace(/^\.\//, '')))).toEqual([]);
  });

  it('@arethetypeswrong/cli finds no problem with any entry (strict profile)', async () => {
    // The conformance kit is a Node ≥ 20 tool shipped as ESM only; from CommonJS it is reached
    // with import() (or require() on Node ≥ 20.19), which is the one rule waived, for it alone.
    const { stdout } = await run(bin('attw'), [tarball, '--format', 'ascii', '--exclude-entrypoints', './conformance']);
    expect(stdout).toMatch(/No problems found/);
    const kit = await run(bin('attw'), [
      tarball,
      '--format',
      'ascii',
      '--entrypoints',
      './conformance',
      '--ignore-rules',
      'cjs-resolves-to-esm',
    ]);
    expect(kit.stdout).toMatch(/No problems found/);
  }, 60_000);

  it('publint --strict has nothing to say', async () => {
    const { stdout } = await run(bin('publint'), ['run', tarball, '--strict']);
    expect(stdout).toMatch(/All good!/);
  }, 60_000);
});
