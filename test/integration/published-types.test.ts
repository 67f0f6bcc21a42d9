// @vitest-environment node
// The published declarations, as a user's project sees them: a consumer that imports every entry
// point through the package's `exports` compiles against dist/*.d.ts with skipLibCheck off, so
// a declaration that only holds inside this repository (a stripped @internal member that an
// `implements` clause still names, a type that is not exported) fails here, not in users' builds.
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'rt-types-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const consumer = `
import { RealtimeClient, RealtimeError, websocket, type ClientOptions, type RealtimeEventMap } from 'realtime-client';
import { RealtimeClient as CoreClient, longPoll } from 'realtime-client/core';
import { plain, plainSse, plainPoll } from 'realtime-client/plain';
import { RealtimeServer, Session, fileSessionStore, CloseCode, type RealtimeServerOptions } from 'realtime-client/server';

const options: ClientOptions = { transports: [websocket()], maxFrameSize: 4096 };
const client = new RealtimeClient('wss://example.test/realtime', options);
client.on('error', (e: RealtimeError) => e.code);
const open: RealtimeEventMap['open'] = { transport: 'websocket', resumed: false };
new CoreClient('wss://example.test/realtime', { transports: [longPoll({ wait: 1000 })] });
new CoreClient('https://example.test/feed', { protocol: plain, transports: [plainSse(), plainPoll({ interval: 5000 })] });

const serverOptions: RealtimeServerOptions = { maxTotalReplayBytes: 1 << 24, maxTotalBodyBytes: 1 << 24, requestTimeout: 1000, headersTimeout: 1000, sessionStore: fileSessionStore('/tmp/x') };
const rt = new RealtimeServer(serverOptions);
rt.on('connection', (s: Session) => {
  s.on('message', (data: unknown, seq: number) => s.send({ echo: data, seq }));
  s.close(CloseCode.NORMAL);
});
void open;
`;

/** A CommonJS consumer (a .cts file under node16): its imports resolve through the `require`
 * conditions, so it needs the .d.cts declarations; ESM ones are refused (TS1479). Checked under
 * `node16`, not `nodenext`: TypeScript 5.8+ lets nodenext require() ESM, as Node 22 does, which
 * would hide the problem from the Node 20 users this package supports. */
const cjsConsumer = `
import { RealtimeClient } from 'realtime-client';
import { RealtimeClient as CoreClient } from 'realtime-client/core';
import { plainSse } from 'realtime-client/plain';
import { RealtimeServer, CloseCode } from 'realtime-client/server';
import { redisCluster } from 'realtime-client/server/redis';
const rt = new RealtimeServer({ path: '/realtime' });
rt.on('connection', (s) => s.close(CloseCode.NORMAL));
export const made = [RealtimeClient, CoreClient, plainSse, redisCluster];
`;

/** A Node-only project (no DOM lib) that uses only the server: its types must not need the DOM. */
const nodeOnlyConsumer = `
import { createServer } from 'node:http';
import { RealtimeServer, type Session } from 'realtime-client/server';
import { redisCluster } from 'realtime-client/server/redis';
const rt = new RealtimeServer({ server: createServer(), path: '/realtime' });
rt.on('connection', (s: Session) => s.on('message', (data: unknown) => s.send(data)));
export const cluster = redisCluster;
`;

mkdirSync(join(dir, 'node_modules'));
symlinkSync(root, join(dir, 'node_modules', 'realtime-client'), 'dir');

/** Type-checks one consumer file against dist/ through the package's `exports`; returns the problems. */
function compile(name: string, source: string, lib: string[], module = ts.ModuleKind.NodeNext): string[] {
  expect(existsSync(join(root, 'dist/server.d.ts')), 'run `npm run build` first').toBe(true);
  const file = join(dir, name);
  writeFileSync(file, source);
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    target: ts.ScriptTarget.ES2022,
    module,
    moduleResolution:
      module === ts.ModuleKind.Node16 ? ts.ModuleResolutionKind.Node16 : ts.ModuleResolutionKind.NodeNext,
    lib,
    types: ['node'],
    typeRoots: [join(root, 'node_modules/@types')],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file
      ? `${d.file.fileName.replace(root, '.')}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: `
      : '';
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
  });
}

describe('published types', () => {
  it('a consumer importing realtime-client, realtime-client/core, realtime-client/plain and realtime-client/server compiles with skipLibCheck off', () => {
    expect(compile('consumer.ts', consumer, ['lib.es2022.d.ts', 'lib.dom.d.ts'])).toEqual([]);
  });

  it('a CommonJS consumer (.cts, node16) gets CommonJS declarations for every entry', () => {
    expect(compile('consumer.cts', cjsConsumer, ['lib.es2022.d.ts', 'lib.dom.d.ts'], ts.ModuleKind.Node16)).toEqual([]);
  });

  it('a Node-only project without the DOM lib compiles against the server entries', () => {
    expect(compile('server-only.ts', nodeOnlyConsumer, ['lib.es2022.d.ts'])).toEqual([]);
  });
});
