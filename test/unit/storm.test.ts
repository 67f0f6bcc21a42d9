// @vitest-environment happy-dom
import { afterEach, expect, it, vi } from 'vitest';
import { RealtimeClient, type Transport, type TransportHandlers } from '../../src/index';
import { testEnv, welcomeText } from './helpers';

afterEach(() => vi.useRealTimers());

const welcome = welcomeText({ hb: 60_000, max: 1 << 20 });

it(
  'reconnect storm: 1,000 clients whose server restarts spread their first attempts over the whole jitter window',
  { timeout: 30_000 },
  async () => {
    vi.useFakeTimers();
    const N = 1000;
    const initialDelay = 1000;
    const attempts: number[] = []; // when each client's first attempt after the restart starts
    const live: TransportHandlers[] = [];
    let restartedAt = -1;
    const transport: Transport = {
      name: 'websocket',
      isSupported: () => true,
      open(_url, h) {
        if (restartedAt >= 0) attempts.push(Date.now() - restartedAt);
        else live.push(h);
        return { send() {}, close() {}, buffered: 0 };
      },
    };
    // Math.random, as in production: the spread must come from the jitter, not from the test.
    const clients = Array.from(
      { length: N },
      () =>
        new RealtimeClient('ws://x', {
          transports: [transport],
          reconnect: { initialDelay },
          env: testEnv({ random: Math.random }),
        }),
    );
    await vi.advanceTimersByTimeAsync(0);
    for (const h of live) {
      h.onOpen();
      h.onFrame(welcome);
    }
    await vi.advanceTimersByTimeAsync(10_000); // long past resetAfter: every connection is stable
    restartedAt = Date.now();
    for (const h of live) h.onClose(1001, 'server restarting');
    await vi.advanceTimersByTimeAsync(initialDelay);
    expect(attempts).toHaveLength(N);

    // Full jitter: uniform over [0, initialDelay). Ten buckets of 100 ms hold about 100 each;
    // without jitter they would all fall in one.
    const buckets = Array.from(
      { length: 10 },
      (_, i) => attempts.filter((t) => t >= i * 100 && t < (i + 1) * 100).length,
    );
    console.log(`first attempts after the restart, per 100 ms: ${buckets.join(' ')}`);
    for (const b of buckets) expect(b).toBeGreaterThan(50);
    for (const b of buckets) expect(b).toBeLessThan(150);
    expect(Math.max(...attempts)).toBeLessThan(initialDelay);
    for (const c of clients) c.close();
  },
);
