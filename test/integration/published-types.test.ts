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

describe('published types', () => {
  it('a consumer importing realtime-client, realtime-client/core, realtime-client/plain and realtime-client/server compiles with skipLibCheck off', () => {
    expect(existsSync(join(root, 'dist/server.d.ts')), 'run `npm run build` first').toBe(true);
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'realtime-client'), 'dir');
    const file = join(dir, 'consumer.ts');
    writeFileSync(file, consumer);
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: ['node'],
      typeRoots: [join(root, 'node_modules/@types')],
    });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${d.file.fileName.replace(root, '.')}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: ` : '';
      return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
    });
    expect(problems).toEqual([]);
  });
});
