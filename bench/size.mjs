// npm run bench:size — bundle size of our client beside the alternatives, with the same esbuild
// settings for every entry (--bundle --minify --format=esm, browser platform), then gzip -9.
// Entries: bench/size/*.js, each a minimal file that imports and constructs one client.
// Ours are imported by package name ('realtime-client', 'realtime-client/core'), which esbuild
// resolves through package.json "exports" to dist/ (as an app's bundler would): run
// `npm run build` first (the npm script does).
//
// Prints a table, our three figures against issue 14's targets (bench/size/goals.json), a
// per-module breakdown of each of our entries, and checks that the WebSocket-only bundle carries
// none of the opt-in modules (goals.json "optIn") and no code of the other transports; writes it
// all into BENCHMARKS.md between the bench:size markers.
// `--json` prints the results as JSON as well (used by bench/run.mjs).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { gzipSync, constants } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { replaceSection, table, kb } from './lib/report.mjs';
import { bundleModules } from './lib/modules.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = (name) => JSON.parse(readFileSync(`${root}/node_modules/${name}/package.json`, 'utf8')).version;

/** What each entry measures: file, library label, version, transports it carries. */
export const ENTRIES = [
  {
    file: 'ours-full.js',
    lib: 'realtime-client (full: `realtime-client`)',
    version: 'this repo',
    transports: 'websocket, sse, fetch-stream, long-poll',
    ours: true,
  },
  {
    file: 'ours-websocket.js',
    lib: 'realtime-client (WebSocket-only: `realtime-client/core` + `websocket()`)',
    version: 'this repo',
    transports: 'websocket',
    ours: true,
  },
  {
    file: 'ours-share.js',
    lib: 'realtime-client (full + tab sharing: `realtime-client` + `realtime-client/share`)',
    version: 'this repo',
    transports: 'websocket, sse, fetch-stream, long-poll',
    ours: true,
  },
  {
    file: 'socket.io-client.js',
    lib: 'socket.io-client',
    pkg: 'socket.io-client',
    transports: 'websocket, polling, webtransport',
  },
  {
    file: 'sockjs-client.js',
    lib: 'sockjs-client',
    pkg: 'sockjs-client',
    transports: 'websocket, xhr-streaming, xdr-streaming, eventsource, htmlfile, xhr-polling, xdr-polling, jsonp',
  },
  {
    file: 'signalr.js',
    lib: '@microsoft/signalr (HubConnection + automatic reconnect)',
    pkg: '@microsoft/signalr',
    transports: 'websockets, server-sent events, long polling',
  },
  {
    file: 'centrifuge.js',
    lib: 'centrifuge (JSON)',
    pkg: 'centrifuge',
    transports: 'websocket, http_stream, sse, sockjs, webtransport',
  },
  { file: 'phoenix.js', lib: 'phoenix (Socket)', pkg: 'phoenix', transports: 'websocket, longpoll' },
  { file: 'partysocket.js', lib: 'partysocket (`partysocket/ws`)', pkg: 'partysocket', transports: 'websocket' },
  {
    file: 'reconnecting-websocket.js',
    lib: 'reconnecting-websocket',
    pkg: 'reconnecting-websocket',
    transports: 'websocket',
  },
];

/**
 * Strings that only code of the non-WebSocket transports (or eventsource-parser) contains.
 * Each must be absent from the WebSocket-only bundle and present in the full one.
 */
export const MARKERS = [
  { what: 'sse transport name', re: /["'`]sse["'`]/g },
  { what: 'fetch-stream transport name', re: /fetch-stream/g },
  { what: 'long-poll transport name', re: /long-poll/g },
  { what: 'new EventSource(...) (sse transport)', re: /new [\w$.]*EventSource\(/g },
  { what: '"text/event-stream" (fetch-stream)', re: /text\/event-stream/g },
  { what: 'ndjson (long-poll)', re: /ndjson/g },
  { what: 'Last-Event-ID (fetch-stream)', re: /Last-Event-ID/g },
  { what: 'keepalive POST (HTTP transports)', re: /keepalive/g },
  { what: 'eventsource-parser (ParseError)', re: /ParseError/g },
  { what: 'eventsource-parser (invalid-retry)', re: /invalid-retry/g },
];

const count = (text, re) => (text.match(re) ?? []).length;

/** Issue 14's targets, and the modules a WebSocket-only bundle must not hold. */
export const GOALS = JSON.parse(readFileSync(fileURLToPath(new URL('./size/goals.json', import.meta.url)), 'utf8'));

/** The opt-in modules among a breakdown's files: [{ feature, file }]. */
export const optInFound = (files) =>
  Object.entries(GOALS.optIn).flatMap(([feature, paths]) =>
    paths.filter((p) => files.some((f) => f.file === p)).map((file) => ({ feature, file })),
  );

export async function measure() {
  const rows = [];
  const texts = {};
  for (const e of ENTRIES) {
    const out = await build({
      absWorkingDir: root,
      entryPoints: [`bench/size/${e.file}`],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'error',
      legalComments: 'none',
      // Some of the alternatives read process.env.NODE_ENV; a production app build defines it.
      define: { 'process.env.NODE_ENV': '"production"' },
    });
    const code = out.outputFiles[0].contents;
    texts[e.file] = out.outputFiles[0].text;
    rows.push({
      lib: e.lib,
      version: e.pkg ? pkg(e.pkg) : e.version,
      min: code.length,
      gzip: gzipSync(code, { level: constants.Z_BEST_COMPRESSION }).length,
      transports: e.transports,
      ours: !!e.ours,
    });
  }
  // For reference: the IIFE that rollup + terser build (what size-budgets.json checks).
  const iifePath = `${root}/dist/realtime.min.js`;
  const iife = existsSync(iifePath) ? readFileSync(iifePath) : null;
  const reference = iife && { min: iife.length, gzip: gzipSync(iife, { level: constants.Z_BEST_COMPRESSION }).length };

  const wsOnly = texts['ours-websocket.js'];
  const full = texts['ours-full.js'];
  const markers = MARKERS.map((m) => ({ what: m.what, inWsOnly: count(wsOnly, m.re), inFull: count(full, m.re) }));
  // The word EventSource may remain as a property name: resolveEnv() reads globalThis.EventSource for every build.
  const envMentions = count(wsOnly, /EventSource/g);
  const envContext = [...wsOnly.matchAll(/EventSource/g)].map((m) =>
    wsOnly.slice(Math.max(0, m.index - 40), m.index + 40),
  );
  const b = await breakdown();
  const optIn = optInFound(b.websocket.files);
  const treeShaken = markers.every((m) => m.inWsOnly === 0) && optIn.length === 0;
  const gzipOf = (file) => rows[ENTRIES.findIndex((e) => e.file === file)].gzip;
  const measured = {
    'bench/size/ours-websocket.js': gzipOf('ours-websocket.js'),
    'bench/size/ours-full.js': gzipOf('ours-full.js'),
    'dist/realtime.min.js': reference?.gzip,
  };
  const targets = Object.entries(GOALS.targets).map(([entry, target]) => ({
    entry,
    target,
    gzip: measured[entry],
    met: measured[entry] <= target,
  }));
  return { rows, reference, markers, optIn, treeShaken, envMentions, envContext, targets, breakdown: b };
}

/**
 * Where the minified bytes of our two bundles come from, per source file: the same entries built
 * from src/ (same esbuild settings), with esbuild's metafile.
 */
async function breakdown() {
  const entries = {
    full: `import { RealtimeClient } from './src/index.ts'; globalThis.client = new RealtimeClient('/realtime');`,
    websocket: `import { RealtimeClient, websocket } from './src/core.ts'; globalThis.client = new RealtimeClient('/realtime', { transports: [websocket()] });`,
    'core + plain SSE': `import { RealtimeClient } from './src/core.ts'; import { plain, plainSse } from './src/plain.ts'; globalThis.client = new RealtimeClient('/feed', { protocol: plain, transports: [plainSse()] });`,
  };
  const out = {};
  for (const [name, contents] of Object.entries(entries)) out[name] = await bundleModules(root, contents);
  return out;
}

export function sizeMarkdown(r) {
  const lines = [];
  lines.push(
    table(
      ['library', 'version', 'min', 'min+gzip', 'transports'],
      r.rows.map((x) => [
        x.ours ? `**${x.lib}**` : x.lib,
        x.version,
        `${x.min} B (${kb(x.min)})`,
        `${x.gzip} B (${kb(x.gzip)})`,
        x.transports,
      ]),
    ),
  );
  if (r.reference)
    lines.push(
      '',
      `For reference, \`dist/realtime.min.js\` (rollup + terser IIFE, every transport, what \`size-budgets.json\` checks): ${r.reference.min} B min, ${r.reference.gzip} B min+gzip.`,
    );
  lines.push(
    '',
    `Tree-shaking of the WebSocket-only bundle: **${r.treeShaken ? 'ok' : 'FAILED'}** — markers of the other transports (count in WebSocket-only / in full):`,
    '',
  );
  lines.push(
    table(
      ['marker', 'WebSocket-only', 'full'],
      r.markers.map((m) => [m.what, String(m.inWsOnly), String(m.inFull)]),
    ),
  );
  lines.push('', "Against issue 14's targets (min+gzip -9; KB = 1024 B; bench/size/goals.json):", '');
  lines.push(
    table(
      ['bundle', 'measured', 'target', 'met'],
      r.targets.map((t) => [
        t.entry,
        `${t.gzip} B (${kb(t.gzip)})`,
        `${t.target} B (${kb(t.target)})`,
        t.met ? 'yes' : `no, ${t.gzip - t.target} B over`,
      ]),
    ),
  );
  lines.push(
    '',
    `Opt-in modules in the WebSocket-only bundle: ${r.optIn.length ? r.optIn.map((o) => `${o.feature} (${o.file})`).join(', ') : 'none'} (checked: ${Object.keys(GOALS.optIn).join(', ')}).`,
  );
  const b = r.breakdown;
  if (b) {
    const names = Object.keys(b);
    const files = [...new Set(names.flatMap((n) => b[n].files.map((f) => f.file)))];
    const get = (name, file) => b[name].files.find((f) => f.file === file)?.bytes;
    files.sort((x, y) => (get('full', y) ?? 0) - (get('full', x) ?? 0));
    const totals = names.map((n) => `${n} ${b[n].total} B / ${b[n].gzip} B gzip`).join(', ');
    lines.push(
      '',
      `Where the minified bytes come from, per module (each entry built from \`src/\`, esbuild metafile; before gzip; ${totals}):`,
      '',
    );
    lines.push(
      table(
        ['source file', ...names],
        files.map((f) => [f, ...names.map((n) => get(n, f) ?? '–')]),
      ),
    );
  }
  if (r.envMentions)
    lines.push(
      '',
      `The word \`EventSource\` appears ${r.envMentions}× in the WebSocket-only bundle, only as \`resolveEnv()\` reading \`globalThis.EventSource\` (src/env.ts), not as transport code: \`…${r.envContext[0]}…\``,
    );
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await measure();
  console.log('\nBundle size (esbuild --bundle --minify --format=esm, gzip -9)\n');
  const w = Math.max(...r.rows.map((x) => x.lib.length));
  console.log(`${'library'.padEnd(w)}  ${'min'.padStart(9)}  ${'min+gzip'.padStart(9)}  transports`);
  for (const x of r.rows)
    console.log(`${x.lib.padEnd(w)}  ${String(x.min).padStart(9)}  ${String(x.gzip).padStart(9)}  ${x.transports}`);
  if (r.reference)
    console.log(
      `${'(dist/realtime.min.js, rollup+terser IIFE)'.padEnd(w)}  ${String(r.reference.min).padStart(9)}  ${String(r.reference.gzip).padStart(9)}`,
    );
  console.log('\nAgainst the targets (min+gzip -9, bench/size/goals.json)');
  for (const t of r.targets)
    console.log(
      `  ${t.entry.padEnd(32)} ${String(t.gzip).padStart(6)} B (${kb(t.gzip)})  target ${t.target} B (${kb(t.target)})  ${t.met ? 'met' : `MISSED by ${t.gzip - t.target} B`}`,
    );
  for (const [name, x] of Object.entries(r.breakdown)) {
    console.log(`\nPer module, ${name} (src build: ${x.total} B min, ${x.gzip} B min+gzip):`);
    for (const f of x.files) console.log(`  ${String(f.bytes).padStart(6)}  ${f.file}`);
  }
  console.log(
    `\nOpt-in modules in the WebSocket-only bundle: ${r.optIn.length ? r.optIn.map((o) => `${o.feature} (${o.file})`).join(', ') : 'none'}`,
  );
  console.log(
    `Tree-shaking, WebSocket-only bundle: ${r.treeShaken ? 'OK: no opt-in module, no code of the other transports' : 'FAILED'}`,
  );
  for (const m of r.markers)
    console.log(`  ${m.inWsOnly ? 'FOUND ' : 'absent'}  ${m.what}  (ws-only ${m.inWsOnly}, full ${m.inFull})`);
  if (r.envMentions)
    console.log(`  note: "EventSource" appears ${r.envMentions}x, only in resolveEnv(): …${r.envContext[0]}…`);
  const file = `${root}/BENCHMARKS.md`;
  writeFileSync(file, replaceSection(existsSync(file) ? readFileSync(file, 'utf8') : '', 'size', sizeMarkdown(r)));
  console.log('\nwrote the size section of BENCHMARKS.md');
  if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  if (!r.treeShaken) process.exitCode = 1;
}
