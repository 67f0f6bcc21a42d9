// Builds dist/ (see package.json "exports"):
//   dist/index.js, dist/index.cjs     browser client, eventsource-parser kept external (runtime dependency)
//   dist/realtime.min.js              minified IIFE, global `Realtime`, eventsource-parser bundled in
//   dist/plain.{js,cjs,d.ts}          plain mode for realtime-client/core users (realtime-client/plain)
//   dist/share.{js,cjs,d.ts}          one connection for all tabs (realtime-client/share), any entry
//   dist/index.d.ts, dist/index.d.cts bundled declarations for the client (.d.cts for `require`;
//                                     the same for core, plain, server and server-redis)
//   dist/server.js, dist/server.cjs   Node reference server, `ws` and node builtins external
//   dist/server.d.ts                  bundled declarations for the server
//   dist/server-redis.{js,cjs,d.ts}   sessions in Redis (realtime-client/server/redis), ioredis external
//   dist/conformance.js               the conformance kit's command (bin), an executable Node script
//   dist/conformance-kit.js, .d.ts    the kit for programmatic use (realtime-client/conformance)
//   dist/react.{js,cjs,d.ts,d.cts}    the React hook (realtime-client/react), importing ./index and react
import { builtinModules } from 'node:module';
import { chmodSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import typescript from '@rollup/plugin-typescript';
import terser from '@rollup/plugin-terser';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import { dts } from 'rollup-plugin-dts';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const dependencies = Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies });
const builtins = new Set(builtinModules);

// Chunk names carry a content hash, so a build over an old dist/ would leave the previous
// chunks beside the new ones, and `npm pack` would ship them.
rmSync(new URL('./dist', import.meta.url), { recursive: true, force: true });

/** True for a runtime dependency (or one of its subpaths): never bundled into the npm builds. */
const isDependency = (id) => dependencies.some((dep) => id === dep || id.startsWith(`${dep}/`));
/** True for a Node builtin, with or without the `node:` prefix. */
const isBuiltin = (id) => id.startsWith('node:') || builtins.has(id) || builtins.has(id.split('/')[0]);

// The build must stay quiet: any warning is a bug to fix, so it fails the build.
// Circular imports are reported but tolerated (they are legal and sometimes intended).
function onwarn(warning, defaultHandler) {
  if (warning.code === 'CIRCULAR_DEPENDENCY') return defaultHandler(warning);
  throw Object.assign(new Error(`Build warning treated as error: ${warning.message}`), { cause: warning });
}

// tsconfig.build.json covers all of src/, so the first build type-checks the client AND the
// server; any type error fails the build (noEmitOnError). The later builds compile the same
// files again, so they skip the (slow) check: `noCheck` (TypeScript >= 5.5).
const ts = ({ check }) =>
  typescript({ tsconfig: './tsconfig.build.json', ...(check ? {} : { compilerOptions: { noCheck: true } }) });

/** src/index.ts as src/react.ts imports it, resolved: kept out of dist/react.*. */
const reactClient = fileURLToPath(new URL('./src/index.ts', import.meta.url));

const banner = `/*! ${pkg.name} v${pkg.version} | ${pkg.license} */`;

/** Makes `file` executable once written, so `./dist/conformance.js` runs from a clone too (npm sets the bit on install). */
const executable = (file) => ({
  name: 'executable',
  writeBundle() {
    chmodSync(file, 0o755);
  },
});

export default [
  // npm builds of the client: ESM + CJS from one compile.
  // `core` is the client without a transports list, so bundlers keep only the transports used;
  // `plain` is plain mode (its protocol and HTTP transports), opt-in for `core` users.
  {
    input: { index: 'src/index.ts', core: 'src/core.ts', plain: 'src/plain.ts', share: 'src/share.ts' },
    external: (id) => isDependency(id) || isBuiltin(id),
    plugins: [ts({ check: true })],
    onwarn,
    output: [
      {
        dir: 'dist',
        entryFileNames: '[name].js',
        chunkFileNames: 'shared-[hash].js',
        format: 'es',
        generatedCode: 'es2015',
      },
      {
        dir: 'dist',
        entryFileNames: '[name].cjs',
        chunkFileNames: 'shared-[hash].cjs',
        format: 'cjs',
        exports: 'named',
        generatedCode: 'es2015',
      },
    ],
  },
  // <script> build: everything bundled, minified, exposed as window.Realtime.
  {
    input: 'src/index.ts',
    plugins: [nodeResolve({ browser: true }), ts({ check: false })],
    onwarn,
    output: {
      file: 'dist/realtime.min.js',
      format: 'iife',
      name: 'Realtime',
      exports: 'named',
      generatedCode: 'es2015',
      banner,
      plugins: [
        terser({
          ecma: 2022,
          compress: { passes: 3 }, // a third pass still finds inlining the second one made possible; a fourth finds nothing
          format: { comments: /^!/ },
        }),
      ],
    },
  },
  // Node reference server: ESM + CJS.
  {
    input: 'src/server/index.ts',
    external: (id) => isDependency(id) || isBuiltin(id),
    plugins: [ts({ check: false })],
    onwarn,
    output: [
      { file: 'dist/server.js', format: 'es', generatedCode: 'es2015' },
      { file: 'dist/server.cjs', format: 'cjs', exports: 'named', generatedCode: 'es2015' },
    ],
  },
  // Sessions in Redis: an entry of its own, the only one that imports ioredis (a peer dependency).
  {
    input: 'src/server-redis.ts',
    external: (id) => isDependency(id) || isBuiltin(id),
    plugins: [ts({ check: false })],
    onwarn,
    output: [
      { file: 'dist/server-redis.js', format: 'es', generatedCode: 'es2015' },
      { file: 'dist/server-redis.cjs', format: 'cjs', exports: 'named', generatedCode: 'es2015' },
    ],
  },
  // Conformance kit (Node only, `ws` and builtins external): the command and the programmatic
  // entry from one compile, sharing a chunk. Only the command gets the shebang and the x bit.
  {
    input: { conformance: 'src/conformance.ts', 'conformance-kit': 'src/conformance/index.ts' },
    external: (id) => isDependency(id) || isBuiltin(id),
    plugins: [ts({ check: false }), executable('dist/conformance.js')],
    onwarn,
    output: {
      dir: 'dist',
      entryFileNames: '[name].js',
      chunkFileNames: 'conformance-[hash].js',
      format: 'es',
      generatedCode: 'es2015',
      banner: (chunk) => (chunk.isEntry && chunk.name === 'conformance' ? '#!/usr/bin/env node' : ''),
    },
  },
  // realtime-client/react: the hook alone. The client stays an import of ./index.js (./index.cjs),
  // so an app using both entries runs one copy of it, and react is a peer dependency.
  {
    input: { react: 'src/react.ts' },
    external: (id) => isDependency(id) || id === reactClient,
    plugins: [ts({ check: false })],
    onwarn,
    output: [
      {
        dir: 'dist',
        entryFileNames: '[name].js',
        format: 'es',
        generatedCode: 'es2015',
        paths: { [reactClient]: './index.js' },
      },
      {
        dir: 'dist',
        entryFileNames: '[name].cjs',
        format: 'cjs',
        exports: 'named',
        generatedCode: 'es2015',
        paths: { [reactClient]: './index.cjs' },
      },
    ],
  },
  {
    input: { react: 'src/react.ts' },
    external: (id) => isDependency(id) || id === reactClient,
    plugins: [dts({ tsconfig: './tsconfig.build.json' })],
    onwarn,
    output: [
      { dir: 'dist', entryFileNames: '[name].d.ts', format: 'es', paths: { [reactClient]: './index.js' } },
      { dir: 'dist', entryFileNames: '[name].d.cts', format: 'es', paths: { [reactClient]: './index.cjs' } },
    ],
  },
  // Bundled declarations.
  {
    input: { index: 'src/index.ts', core: 'src/core.ts', plain: 'src/plain.ts', share: 'src/share.ts' },
    external: (id) => isDependency(id) || isBuiltin(id),
    plugins: [dts({ tsconfig: './tsconfig.build.json' })],
    onwarn,
    output: [
      { dir: 'dist', entryFileNames: '[name].d.ts', chunkFileNames: 'shared-[hash].d.ts', format: 'es' },
      { dir: 'dist', entryFileNames: '[name].d.cts', chunkFileNames: 'shared-[hash].d.cts', format: 'es' },
    ],
  },
  {
    input: 'src/server/index.ts',
    external: (id) => isDependency(id) || isBuiltin(id),
    // Members marked @internal are the server's wiring between its parts, not API.
    plugins: [dts({ tsconfig: './tsconfig.build.json', compilerOptions: { stripInternal: true } })],
    onwarn,
    output: [
      { file: 'dist/server.d.ts', format: 'es' },
      { file: 'dist/server.d.cts', format: 'es' },
    ],
  },
  {
    input: 'src/server-redis.ts',
    external: (id) => isDependency(id) || isBuiltin(id),
    plugins: [dts({ tsconfig: './tsconfig.build.json', compilerOptions: { stripInternal: true } })],
    onwarn,
    output: [
      { file: 'dist/server-redis.d.ts', format: 'es' },
      { file: 'dist/server-redis.d.cts', format: 'es' },
    ],
  },
  {
    input: 'src/conformance/index.ts',
    external: (id) => isDependency(id) || isBuiltin(id),
    plugins: [dts({ tsconfig: './tsconfig.build.json' })],
    onwarn,
    output: { file: 'dist/conformance-kit.d.ts', format: 'es' },
  },
];
