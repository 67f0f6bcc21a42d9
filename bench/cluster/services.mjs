// The real-service harness of the tests (test/services/: redis-server, nginx, node processes, on
// free ports, stopped by pid) for the benchmark. It is TypeScript and Node 20 cannot import that,
// so it is bundled on the fly with esbuild, as bench/lib/harness.mjs does for
// test/browser/chromium.ts; scope.ts (vitest hooks) is left out.
import { existsSync, mkdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { root } from '../lib/harness.mjs';

export async function loadServices() {
  const dir = `${root}/node_modules/.cache/realtime-client-bench`;
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  const out = `${dir}/services.mjs`;
  await build({
    stdin: {
      contents: [
        "export { ensureBinary, ensureServices } from './install';",
        "export { startRedis } from './redis';",
        "export { startNginx } from './nginx';",
        "export { startNodeProcess, startNodeProcesses } from './node-processes';",
        "export { redisCommand, redisInfo, parseInfo } from './resp';",
        "export { until, delay } from './wait';",
      ].join('\n'),
      resolveDir: `${root}/test/services`,
      loader: 'ts',
    },
    outfile: out,
    format: 'esm',
    platform: 'node',
    bundle: true,
    packages: 'external',
    logLevel: 'error',
  });
  return import(`${pathToFileURL(out).href}?t=${Date.now()}`);
}
