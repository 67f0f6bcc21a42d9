// @vitest-environment node
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../../src/conformance/index';

/**
 * The packed tarball, installed as a user would, without the network: `npm pack`, then `npm ci
 * --offline` in a temporary project whose lockfile names the tarball and the package's runtime
 * dependencies (npm's cache holds them after the repository's own `npm ci`). Then the installed
 * bin runs against the installed example server. Needs dist/ (`npm test` builds it first).
 */

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
/** The fields of package.json (and of package-lock.json) that the consumer's lockfile copies. */
interface PackageJson {
  name: string;
  version: string;
  license: string;
  dependencies: Record<string, string>;
  bin: Record<string, string>;
  engines: Record<string, string>;
}
interface PackageLock {
  packages: Record<string, unknown>;
}
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as PackageJson;
const lock = JSON.parse(readFileSync(resolve(root, 'package-lock.json'), 'utf8')) as PackageLock;
let dir = '';
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'conformance-pack-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: root,
    env: { ...process.env, npm_config_ignore_scripts: 'true' },
  });
  const [{ filename: tgz }] = JSON.parse(stdout) as [{ filename: string }];
  const integrity = `sha512-${createHash('sha512')
    .update(readFileSync(join(dir, tgz)))
    .digest('base64')}`;
  const dependencies = { [pkg.name]: `file:${tgz}` };
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '1.0.0', dependencies },
    [`node_modules/${pkg.name}`]: {
      version: pkg.version,
      resolved: `file:${tgz}`,
      integrity,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const dep of Object.keys(pkg.dependencies))
    packages[`node_modules/${dep}`] = lock.packages[`node_modules/${dep}`];
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, dependencies }),
  );
  writeFileSync(
    join(dir, 'package-lock.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }),
  );
  await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir });
}, 120_000);

afterAll(() => {
  for (const c of children) c.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Starts the installed example server on port 0; resolves with its URL once it listens. */
function exampleServer(): Promise<string> {
  const child = spawn(process.execPath, [join(dir, 'node_modules', pkg.name, 'examples', 'conformance-server.mjs')], {
    env: { ...process.env, PORT: '0' },
  });
  children.push(child);
  return new Promise((resolveUrl, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const url = /http:\/\/127\.0\.0\.1:\d+\/realtime/.exec(out)?.[0];
      if (url) resolveUrl(url);
    });
    child.once('exit', (code) => reject(new Error(`example server exited ${code}: ${out}`)));
  });
}

describe('the packed tarball, installed offline', () => {
  it('links the bin, which prints its usage', async () => {
    const { stdout } = await run(join(dir, 'node_modules', '.bin', 'realtime-client-conformance'), ['--help']);
    expect(stdout).toMatch(/^Usage: realtime-client-conformance <url>/);
  });

  it('checks the installed example server: every case on WebSocket and long-poll passes (exit 0)', async () => {
    const url = await exampleServer();
    const bin = join(dir, 'node_modules', '.bin', 'realtime-client-conformance');
    const only = 'V1-HANDSHAKE-001,V1-RESUME-002,V1-SEQ-003,V1-CLOSE-009,V1-POLL-005';
    const { stdout } = await run(bin, [url, '--transports', 'websocket,long-poll', '--only', only, '--json']);
    // The --json form: the report, with the exit code (src/conformance/reporter.ts toJson).
    const report = JSON.parse(stdout) as Report & { exitCode: number };
    expect(report.exitCode).toBe(0);
    expect(report.results.map((r) => `${r.id} ${r.verdict}`).filter((r) => !r.endsWith('pass'))).toEqual([]);
    expect(report.results).toHaveLength(9);
  }, 60_000);
});
