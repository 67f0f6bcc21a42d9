// What the PHP server's integration tests share: the two ways of running it that they check
// (php -S behind ws-daemon.php, and the deploy/ files: nginx + PHP-FPM + ws-daemon.php), and the
// hooks that install what those need before a file's tests and stop every process after each test.
import { afterEach, beforeAll } from 'vitest';
import { ensureServices, INSTALL_TIMEOUT_MS } from '../services/index';
import { ensurePhp, ensurePhpFpm, startPhp, type PhpOptions, type PhpStack } from '../services/php';

export interface PhpSetup {
  name: string;
  /** Starts its pieces on `stack`; resolves with the endpoint's URL (http://…/realtime, WebSocket on the same). */
  start: (stack: PhpStack) => Promise<string>;
}

export const PHP_SETUPS: PhpSetup[] = [
  {
    name: 'php -S (32 workers) behind ws-daemon.php --http-upstream',
    async start(stack) {
      const builtin = await stack.builtin(32);
      return (await stack.daemon({ upstream: builtin.port })).url;
    },
  },
  {
    name: 'nginx + PHP-FPM + ws-daemon.php (examples/php/deploy)',
    async start(stack) {
      const fpm = await stack.fpm();
      const nginx = await stack.site(fpm, await stack.daemon());
      return `${nginx.url}/realtime`;
    },
  },
];

/**
 * Hooks for a test file: PHP (with PHP-FPM and nginx when `fpm`) installed before its tests, one
 * at a time as each may run apt-get; the stack a test started destroyed after it.
 * `start(options)` begins a test's stack.
 */
export function usePhp(needs: { fpm: boolean }): { start(options: PhpOptions): Promise<PhpStack> } {
  let current: PhpStack | undefined;
  beforeAll(async () => {
    await ensurePhp();
    if (needs.fpm) {
      await ensurePhpFpm();
      await ensureServices('nginx');
    }
  }, INSTALL_TIMEOUT_MS);
  afterEach(async () => {
    const stack = current;
    current = undefined;
    await stack?.destroy();
  });
  return {
    async start(options) {
      current = await startPhp(options);
      return current;
    },
  };
}
