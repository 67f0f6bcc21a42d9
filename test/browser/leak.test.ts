// 7. Leak check: one client in a page connects, closes and reconnects, 1,000 times over
// WebSocket (awaiting 'open' each time; every 10th cycle also sends a message and awaits its
// ack, so cycles 10 and 1000 both end with one), and 100 times over long-poll
// (each of its cycles costs several HTTP round trips, so fewer keep the suite fast; 90 cycles
// between the two counts still show any per-cycle leak far above the slack).
// pages/instrument.js, loaded before the bundle, counts live timers and listeners on window and
// document; after cycle 10 and after the last cycle the counts must be the same (within a slack
// of 3), with the client open and after close(). The JS heap (CDP Runtime.getHeapUsage after a
// forced GC) must not grow by more than a generous bound. The server must have ended every
// session the client closed.
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../wait';
import { launchBrowser } from './chromium';
import { expectClean, newPage, pageSummary, range, startFixture, type Fixture, type OpenedPage } from './harness';

interface Live {
  timeouts: number;
  intervals: number;
  window: { total: number; byType: Record<string, number> };
  document: { total: number; byType: Record<string, number> };
}
interface CycleResult {
  open: Live;
  closed: Live;
  cycles: number;
}
declare global {
  interface Window {
    L: { cycle(n: number): Promise<CycleResult> };
  }
}

const SLACK = 3;
/** Heap growth allowed between cycle 10 and cycle 1000, after a forced GC. */
const HEAP_SLACK = 2 * 1024 * 1024;

let browser: Browser;
let fx: Fixture;
let opened: OpenedPage | undefined;

beforeAll(async () => {
  fx = await startFixture();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

afterEach(async () => {
  await opened?.context.close();
  opened = undefined;
});

describe.each([
  ['websocket', 1000],
  ['long-poll', 100],
] as const)('transport %s', (transport, cycles) => {
  it(
    `7. ${cycles} connect/close cycles: no growth in timers, listeners, heap or server sessions`,
    { timeout: 120_000 },
    async () => {
      const p = (opened = await newPage(browser));
      const response = await p.page.goto(`${fx.http.url}/test/browser/pages/leak.html?transport=${transport}`);
      expect(response?.status()).toBe(200);
      const cdp = await p.context.newCDPSession(p.page);
      const heap = async () => {
        await cdp.send('HeapProfiler.collectGarbage');
        return (await cdp.send('Runtime.getHeapUsage')).usedSize;
      };
      const cycle = async (n: number) => {
        try {
          return await p.page.evaluate((k) => window.L.cycle(k), n);
        } catch (err) {
          throw new Error(`cycles failed: ${String(err)}\n${await pageSummary(p)}`, { cause: err });
        }
      };
      const baseline = await p.page.evaluate(() => (window as unknown as { __live(): Live }).__live());

      const at10 = await cycle(10);
      const heap10 = await heap();
      const started = Date.now();
      const atEnd = await cycle(cycles - 10);
      const ms = Date.now() - started;
      const heapEnd = await heap();
      expect(atEnd.cycles).toBe(cycles);
      console.info(
        `[${transport}] ${cycles - 10} cycles in ${ms} ms; after 10: ${JSON.stringify(at10)}; after ${cycles}: ${JSON.stringify(atEnd)}; ` +
          `heap ${(heap10 / 1024).toFixed(0)} KiB → ${(heapEnd / 1024).toFixed(0)} KiB`,
      );

      const why = `baseline ${JSON.stringify(baseline)}\nafter 10 ${JSON.stringify(at10)}\nafter ${cycles} ${JSON.stringify(atEnd)}`;
      for (const phase of ['open', 'closed'] as const) {
        const [a, b] = [at10[phase], atEnd[phase]];
        expect(b.timeouts - a.timeouts, `live timeouts grew (${phase})\n${why}`).toBeLessThanOrEqual(SLACK);
        expect(b.intervals - a.intervals, `live intervals grew (${phase})\n${why}`).toBeLessThanOrEqual(SLACK);
        expect(b.window.total - a.window.total, `window listeners grew (${phase})\n${why}`).toBeLessThanOrEqual(SLACK);
        expect(b.document.total - a.document.total, `document listeners grew (${phase})\n${why}`).toBeLessThanOrEqual(
          SLACK,
        );
      }
      // After close() the client holds no window/document listener beyond what the page had.
      expect(
        atEnd.closed.window.total - baseline.window.total,
        `window listeners left after close()\n${why}`,
      ).toBeLessThanOrEqual(SLACK);
      expect(
        atEnd.closed.document.total - baseline.document.total,
        `document listeners left after close()\n${why}`,
      ).toBeLessThanOrEqual(SLACK);
      expect(heapEnd - heap10, `heap grew from ${heap10} to ${heapEnd} bytes`).toBeLessThanOrEqual(HEAP_SLACK);

      // Every 10th cycle's message arrived, once, and the server ended every closed session.
      expect(fx.got(`leak-${transport}`, 'leak')).toEqual(range(cycles / 10).map((k) => k * 10 + 9));
      await waitFor(() => fx.rt.sessions.size === 0, { what: 'no sessions left on the server', timeout: 10_000 });
      await expectClean(p);
    },
  );
});
