import { defineConfig } from 'vitest/config';

// Three projects, all run by `vitest run` (pick one with `vitest run --project unit`).
export default defineConfig({
  test: {
    // Explicit so that the normal reporter (with its "Test Files / Tests" summary) is used
    // everywhere, including where Vitest would otherwise auto-select a terser one.
    reporters: [
      ['default', { summary: true }],
      ...(process.env.GITHUB_ACTIONS === 'true' ? (['github-actions'] as const) : []),
    ],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'happy-dom',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/size.test.ts'],
          environment: 'node',
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          // Covers a first-time `apt-get install chromium` (see test/browser/chromium.ts).
          hookTimeout: 120_000,
          // One real browser at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
