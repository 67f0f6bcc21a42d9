// One entry, given as source text, bundled from src/ as bench:size bundles an app (esbuild
// --bundle --minify --format=esm, browser platform), with the bytes each module put in the output
// (esbuild's metafile). Used by bench/size.mjs (the per-module breakdown) and test/size.test.ts
// (no opt-in module in the WebSocket-only bundle).
import { build } from 'esbuild';
import { gzipSync, constants } from 'node:zlib';

export async function bundleModules(root, contents) {
  const r = await build({
    absWorkingDir: root,
    stdin: { contents, resolveDir: root, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'error',
    legalComments: 'none',
  });
  const inputs = Object.values(r.metafile.outputs)[0].inputs;
  return {
    total: r.outputFiles[0].contents.length,
    gzip: gzipSync(r.outputFiles[0].contents, { level: constants.Z_BEST_COMPRESSION }).length,
    files: Object.entries(inputs)
      .map(([file, x]) => ({
        file: file.replace(/^node_modules\/([^/]+)\/.*/, '$1 (dependency)'),
        bytes: x.bytesInOutput,
      }))
      .filter((x) => x.bytes > 0)
      .sort((a, b) => b.bytes - a.bytes),
  };
}
