#!/usr/bin/env node
// Post-build check of the published surface (run by `npm run build`, after rollup):
//  - every file named by package.json `exports` (all conditions), `main`, `module`, `types`,
//    `unpkg` and `jsdelivr` exists;
//  - in every exports condition object, `types` comes first (TypeScript picks the first match),
//    and every object that names code has its own `types`;
//  - `import` of dist/index.js and `require` of dist/index.cjs both give a RealtimeClient
//    function, as do dist/core.*; dist/plain.* give plain mode's transports (plainSse); the
//    server builds give a RealtimeServer function;
//  - the IIFE defines `Realtime.RealtimeClient` when run as a classic script and needs no
//    module loader (eventsource-parser is bundled in);
//  - every `bin` exists, starts with a `#!/usr/bin/env node` shebang, and `--help` runs it to
//    exit code 0 with a usage text; the conformance kit's entry gives a runConformance function;
//  - realtime-client/share gives a tabSharing function, and none of its code is in another client build;
//  - realtime-client/react gives a useRealtime function, and none of its code, nor an import of
//    react, is in any other client build (index, core, plain, their shared chunks, the IIFE): React is
//    an optional peer dependency, and apps without it must not pay for the hook.
// Exits 1 with one line per problem.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { spawnSync } from 'node:child_process';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkgPath = join(root, 'package.json');
const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
const require = createRequire(pkgPath);

const problems = [];
const checked = new Set();

function checkFile(where, target) {
  if (typeof target !== 'string') {
    problems.push(`${where}: expected a path string, got ${JSON.stringify(target)}`);
    return;
  }
  if (!target.startsWith('./')) problems.push(`${where}: "${target}" should start with "./"`);
  const file = resolve(root, target);
  checked.add(relative(root, file));
  if (!existsSync(file) || !statSync(file).isFile()) {
    problems.push(`${where}: "${target}" does not exist (did the build run?)`);
  }
}

// --- top-level fields -----------------------------------------------------------------------
for (const field of ['main', 'module', 'types', 'unpkg', 'jsdelivr']) {
  if (pkg[field] === undefined) problems.push(`package.json "${field}" is missing`);
  else checkFile(`package.json "${field}"`, pkg[field]);
}

// --- exports --------------------------------------------------------------------------------
function walkConditions(where, value) {
  if (value === null) return; // explicitly blocked subpath
  if (typeof value === 'string') return checkFile(where, value);
  if (Array.isArray(value)) return value.forEach((v, i) => walkConditions(`${where}[${i}]`, v));
  if (typeof value !== 'object') return problems.push(`${where}: unexpected ${typeof value}`);
  const keys = Object.keys(value);
  if (keys.length === 0) problems.push(`${where}: empty condition object`);
  if (keys.includes('types') && keys[0] !== 'types') {
    problems.push(`${where}: "types" must be the first condition, found order ${JSON.stringify(keys)}`);
  }
  // A condition object that names code directly (`"import": "./x.js"`) needs its own types:
  // `import` and `require` each get theirs (.d.ts and .d.cts), so a CommonJS consumer is not
  // handed ESM declarations.
  const namesCode = keys.some((k) => k !== 'types' && typeof value[k] === 'string');
  if (!keys.includes('types') && namesCode) {
    problems.push(`${where}: no "types" condition beside ${JSON.stringify(keys)} (put "types" first)`);
  }
  if (keys.includes('default') && keys[keys.length - 1] !== 'default') {
    problems.push(`${where}: "default" must be the last condition, found order ${JSON.stringify(keys)}`);
  }
  for (const k of keys) walkConditions(`${where}.${k}`, value[k]);
}

if (pkg.exports === undefined) {
  problems.push('package.json "exports" is missing');
} else if (
  typeof pkg.exports === 'object' &&
  !Array.isArray(pkg.exports) &&
  pkg.exports !== null &&
  Object.keys(pkg.exports).every((k) => k.startsWith('.'))
) {
  for (const [subpath, value] of Object.entries(pkg.exports)) {
    if (subpath === './package.json') {
      checkFile(`exports["${subpath}"]`, value);
      continue;
    }
    walkConditions(`exports["${subpath}"]`, value);
  }
} else {
  walkConditions('exports', pkg.exports);
}

// --- the modules load and export what they should ------------------------------------------
async function checkImport(file, name) {
  const path = join(root, file);
  if (!existsSync(path)) return; // already reported above
  try {
    const mod = await import(pathToFileURL(path).href);
    if (typeof mod[name] !== 'function') {
      problems.push(`import("${file}").${name} is ${typeof mod[name]}, expected a function`);
    }
  } catch (err) {
    problems.push(`import("${file}") threw: ${err?.stack ?? err}`);
  }
}
function checkRequire(file, name) {
  const path = join(root, file);
  if (!existsSync(path)) return;
  try {
    const mod = require(path);
    if (typeof mod[name] !== 'function') {
      problems.push(`require("${file}").${name} is ${typeof mod[name]}, expected a function`);
    }
  } catch (err) {
    problems.push(`require("${file}") threw: ${err?.stack ?? err}`);
  }
}
function checkIife(file) {
  const path = join(root, file);
  if (!existsSync(path)) return;
  const code = readFileSync(path, 'utf8');
  if (/\brequire\(\s*["']|^\s*import[\s{*]|\bexport\s*[{*]/m.test(code)) {
    problems.push(`${file}: contains require()/import/export; the IIFE must be self-contained`);
  }
  if (code.includes('eventsource-parser')) {
    problems.push(`${file}: still refers to "eventsource-parser"; it must be bundled in`);
  }
  // Run as a classic script in a fresh realm that has Node's web-compatible globals
  // (timers, URL, TextDecoder, ...), but no require/module/exports.
  const sandbox = {};
  for (const key of Object.getOwnPropertyNames(globalThis)) {
    if (['global', 'globalThis', 'require', 'module', 'exports', 'process', 'Buffer'].includes(key)) continue;
    try {
      sandbox[key] = globalThis[key];
    } catch {
      /* accessor that throws: skip */
    }
  }
  const context = vm.createContext(sandbox);
  try {
    vm.runInContext(code, context, { filename: file });
    const g = vm.runInContext(
      'typeof Realtime === "object" && Realtime !== null ? typeof Realtime.RealtimeClient : "no Realtime global"',
      context,
    );
    if (g !== 'function') problems.push(`${file}: Realtime.RealtimeClient is ${g}, expected a function`);
  } catch (err) {
    problems.push(`${file}: running it as a classic script threw: ${err?.stack ?? err}`);
  }
}

function checkReactStaysOut() {
  const dist = join(root, 'dist');
  if (!existsSync(dist)) return;
  const builds = readdirSync(dist).filter((f) => /^(index|core|plain|shared-.*)\.c?js$|^realtime\.min\.js$/.test(f));
  for (const file of builds) {
    const code = readFileSync(join(dist, file), 'utf8');
    // The hook's name, the React API it is built on, and any form of importing react.
    const found = [
      'useRealtime',
      'useSyncExternalStore',
      /from\s*["']react["']|require\(\s*["']react["']\s*\)|import\(\s*["']react["']\s*\)/,
    ].find((needle) => (typeof needle === 'string' ? code.includes(needle) : needle.test(code)));
    if (found) problems.push(`dist/${file}: contains ${found} — the React binding must stay in dist/react.*`);
  }
}

/** Tab sharing is opt-in: its code (named by its lock, 'realtime-client share') is only in dist/share.*. */
function checkShareStaysOut() {
  const dist = join(root, 'dist');
  if (!existsSync(dist)) return;
  const builds = readdirSync(dist).filter((f) => /^(index|core|plain|shared-.*)\.c?js$|^realtime\.min\.js$/.test(f));
  for (const file of builds)
    if (readFileSync(join(dist, file), 'utf8').includes('realtime-client share'))
      problems.push(`dist/${file}: contains tab sharing — it must stay in dist/share.*`);
}

function checkBins() {
  const bins = typeof pkg.bin === 'string' ? { [pkg.name]: pkg.bin } : (pkg.bin ?? {});
  for (const [name, target] of Object.entries(bins)) {
    const file = resolve(root, target);
    checked.add(relative(root, file));
    if (!existsSync(file)) {
      problems.push(`bin "${name}": "${target}" does not exist (did the build run?)`);
      continue;
    }
    if (!readFileSync(file, 'utf8').startsWith('#!/usr/bin/env node\n'))
      problems.push(`bin "${name}": "${target}" does not start with "#!/usr/bin/env node"`);
    const run = spawnSync(process.execPath, [file, '--help'], { encoding: 'utf8', timeout: 30_000 });
    if (run.status !== 0 || !/Usage:/.test(run.stdout)) {
      problems.push(
        `bin "${name}": \`${target} --help\` exited ${run.status} (${run.error?.message ?? run.stderr.trim().slice(0, 300)})`,
      );
    }
  }
}

await checkImport('dist/index.js', 'RealtimeClient');
checkRequire('dist/index.cjs', 'RealtimeClient');
await checkImport('dist/core.js', 'RealtimeClient');
checkRequire('dist/core.cjs', 'RealtimeClient');
await checkImport('dist/plain.js', 'plainSse');
checkRequire('dist/plain.cjs', 'plainSse');
await checkImport('dist/share.js', 'tabSharing');
checkRequire('dist/share.cjs', 'tabSharing');
await checkImport('dist/server.js', 'RealtimeServer');
checkRequire('dist/server.cjs', 'RealtimeServer');
await checkImport('dist/conformance-kit.js', 'runConformance');
await checkImport('dist/react.js', 'useRealtime');
checkRequire('dist/react.cjs', 'useRealtime');
checkReactStaysOut();
checkShareStaysOut();
checkBins();
checkIife(pkg.unpkg ? pkg.unpkg.replace(/^\.\//, '') : 'dist/realtime.min.js');

if (problems.length) {
  console.error(`check-exports: ${problems.length} problem(s) with the package's published files:`);
  for (const p of problems) console.error(`  ✗ ${p}`);
  process.exit(1);
}
console.log(`check-exports: ok (${checked.size} files: ${[...checked].sort().join(', ')})`);
