// The real-service harness of the tests (test/services/: redis-server, nginx, node processes, on
// free ports, stopped by pid) for the benchmark. It is TypeScript and Node 20 cannot import that,
// so it is bundled on the fly with esbuild, as bench/lib/harness.mjs does for
// test/browser/chromium.ts; scope.ts (vitest hooks) is left out.
import { importBundled, root } from '../lib/harness.mjs';

export function loadServices() {
  return importBundled('services.mjs', {
    stdin: {
      contents: [
        "export { ensureBinary, ensureServices } from './install';",
        "export { startRedis } from './redis';",
        "export { startNginx, proxySite } from './nginx';",
        "export { startNodeProcess, startNodeProcesses } from './node-processes';",
        "export { redisCommand, redisInfo, parseInfo } from './resp';",
      ].join('\n'),
      resolveDir: `${root}/test/services`,
      loader: 'ts',
    },
  });
}
