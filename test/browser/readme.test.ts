// README's runnable quick start, exactly as written there: the code block fenced as
// ```js file=server.mjs is read from README.md (not copied here), saved into a temporary project
// whose node_modules/realtime-client is this package (dist/ built by `npm test`), run with Node
// on a free port, and its page opened in Chromium. The ESM example (fenced file=app.js) is
// bundled from that project with esbuild, as a user's bundler would, and run on the same page.
// So the quick start cannot drift from what works.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../wait';
import { launchBrowser } from './chromium';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The body of README's code block fenced with `file=<name>` in its info string. */
function readmeFile(name: string): string {
  const blocks = [...readme.matchAll(/^```\w+ file=(\S+)\n([\s\S]*?)^```$/gm)].filter((m) => m[1] === name);
  expect(blocks, `README.md has one code block fenced as file=${name}`).toHaveLength(1);
  return blocks[0]![2]!;
}

let dir = '';
let browser: Browser | undefined;
const children: ChildProcess[] = [];

beforeAll(async () => {
  expect(existsSync(join(root, 'dist/realtime.min.js')), 'run `npm run build` first').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'rt-readme-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'realtime-client'), 'dir');
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  for (const child of children) child.kill();
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `node <file>` in the project with PORT=0; resolves with the URL it prints. */
function run(file: string): Promise<string> {
  const child = spawn(process.execPath, [file], { cwd: dir, env: { ...process.env, PORT: '0' } });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const collect = (chunk: Buffer): void => {
      out += chunk.toString();
      const url = /http:\/\/localhost:\d+\//.exec(out)?.[0];
      if (url) resolve(url);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('exit', (code) => reject(new Error(`node ${file} exited with ${code}:\n${out}`)));
  });
}

describe("README's quick start, as written", () => {
  it('server.mjs runs in Node, and its page in Chromium gets the echo of its message, with no error', async () => {
    writeFileSync(join(dir, 'server.mjs'), readmeFile('server.mjs'));
    const url = await run('server.mjs');
    const page = await browser!.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    const logged: string[] = [];
    page.on('console', (m) => m.type() === 'log' && logged.push(m.text()));
    await page.goto(url);
    await page.waitForFunction(() => document.title === '{"echo":"hello"}', undefined, { timeout: 10_000 });
    await waitFor(() => logged.includes('the server has it'), {
      what: "the page to log 'the server has it'",
      timeout: 1000,
    });
    expect(problems).toEqual([]);
    await page.close();
  }, 30_000);

  it('the ESM example, bundled with esbuild, connects from that page with no error', async () => {
    writeFileSync(join(dir, 'server.mjs'), readmeFile('server.mjs'));
    writeFileSync(join(dir, 'app.js'), readmeFile('app.js'));
    const bundled = await build({
      entryPoints: [join(dir, 'app.js')],
      bundle: true,
      format: 'esm',
      write: false,
      absWorkingDir: dir,
      logLevel: 'silent',
    });
    const url = await run('server.mjs');
    const page = await browser!.newPage();
    const problems: string[] = [];
    const logged: string[] = [];
    page.on('console', (m) => (m.type() === 'error' ? problems : logged).push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(url);
    await page.waitForFunction(() => document.title === '{"echo":"hello"}', undefined, { timeout: 10_000 }); // the page's own client
    await page.addScriptTag({ type: 'module', content: bundled.outputFiles[0]!.text });
    // Its client logs its state changes; a failed send() would be an unhandled rejection (a page error).
    await waitFor(() => logged.includes('connecting → open'), {
      what: "the page to log 'connecting → open'",
      timeout: 10_000,
    });
    expect(problems).toEqual([]);
    await page.close();
  }, 30_000);
});
