// Reconnects retain nothing: the server drops a page's connection hundreds of times on each
// transport (the client resumes each time), and what the page's JavaScript retains, measured by
// a heap snapshot walked from its globals (heap-snapshot.ts), does not grow. The bench reports the
// same figure beside Runtime.getHeapUsage, which also counts compiled code and browser records.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './chromium';
import { grewMost, retainedByPage } from './heap-snapshot';
import { expectClean, newPage, newPid, startFixture, TRANSPORTS, waitUntil, type Fixture } from './harness';

declare global {
  interface Window {
    H: { opens: number; errors: number; cycles(n: number): Promise<number> };
  }
}

/** Growth allowed over the measured cycles: a leak of one small object (about 40 B) per cycle passes it within 200 cycles. */
const BOUND = 8 * 1024;
/** Cycles before the first snapshot: one-off allocations (first resume, caches) happen there. */
const WARM = 30;

let browser: Browser;
let fx: Fixture;

beforeAll(async () => {
  fx = await startFixture();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

describe.each(TRANSPORTS.map((t) => [t, t === 'websocket' ? 400 : 200] as const))('%s', (transport, cycles) => {
  it(
    `${cycles} dropped connections, each resumed: what the page retains grows by at most ${BOUND / 1024} KiB`,
    { timeout: 120_000 },
    async ({ onTestFinished }) => {
      const p = await newPage(browser, onTestFinished);
      const pid = newPid();
      const response = await p.page.goto(
        `${fx.http.url}/test/browser/pages/heap.html?transport=${transport}&pid=${pid}`,
      );
      expect(response?.status()).toBe(200);
      await waitUntil(p, () => window.H?.opens > 0, undefined, 'the client opened');
      const cdp = await p.context.newCDPSession(p.page);
      const run = (n: number) => p.page.evaluate((k) => window.H.cycles(k), n);

      await run(WARM);
      const before = await retainedByPage(cdp);
      const opens = await run(cycles);
      const after = await retainedByPage(cdp);

      const growth = after.bytes - before.bytes;
      const byType = Object.keys(after.byType)
        .map((t) => `${t} ${(after.byType[t] ?? 0) - (before.byType[t] ?? 0)}`)
        .join(', ');
      console.info(
        `[heap ${transport}] ${cycles} cycles: retained ${before.bytes} → ${after.bytes} B (${growth >= 0 ? '+' : ''}${growth} B; ${byType})`,
      );
      expect(opens).toBe(WARM + cycles + 1);
      expect(growth, `retained bytes by type: ${byType}; grew most: ${grewMost(before, after)}`).toBeLessThanOrEqual(
        BOUND,
      );
      expect(await p.page.evaluate(() => window.H.errors)).toBe(0);
      await expectClean(p);
    },
  );
});
