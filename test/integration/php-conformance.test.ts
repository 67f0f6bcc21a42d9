// @vitest-environment node
// The conformance kit (docs/conformance.md) against the PHP server of examples/php, on all four
// transports, as PHP users run it: under PHP's built-in server (php -S with
// PHP_CLI_SERVER_WORKERS, ws-daemon.php in front relaying to it), and under PHP-FPM behind nginx
// with the site and pool of examples/php/deploy. Every case must pass, SHOULD included:
// examples/php/README.md lists the results. Short timers (hb 1 s, pollTimeout 2 s), so the
// deadline cases take about a second each: the kit adapts to the hb the server announces.
import { describe, expect, it } from 'vitest';
import { formatResult, formatSummary, runConformance, type Report } from '../../src/conformance/index';
import { PHP_SETUPS, usePhp } from './php-harness';

const ORIGIN = 'http://app.conformance.test';
const TOKEN = 'conformance-token';
const SETTINGS = {
  heartbeatInterval: 1000,
  handshakeTimeout: 1000,
  pollTimeout: 2000,
  streamHeartbeat: 1000,
  allowedOrigins: [ORIGIN],
  // The kit opens hundreds of sessions from one address (docs/conformance.md).
  maxSessionsPerIp: 10_000,
  maxPendingPerIp: 10_000,
};

const php = usePhp({ fpm: true });

describe('the conformance kit against the PHP server (examples/php)', () => {
  it.each(PHP_SETUPS)(
    '$name: every case passes on every transport',
    async ({ start }) => {
      const stack = await php.start({ app: 'conformance', token: TOKEN, settings: SETTINGS });
      const url = await start(stack);
      const report: Report = await runConformance({
        target: { http: url, ws: url.replace(/^http/, 'ws'), origin: ORIGIN, token: TOKEN, scale: 2 },
      });
      // By level and by transport: what examples/php/README.md reports.
      console.log(`[php conformance] ${url}\n${formatSummary(report)}`);
      expect(report.contract).toMatchObject({ ok: true });
      expect(report.results.filter((r) => r.verdict !== 'pass').map(formatResult)).toEqual([]);
      // Every case of the catalog ran on each transport it applies to: nothing was skipped.
      expect(new Set(report.results.map((r) => r.transport))).toEqual(
        new Set(['websocket', 'sse', 'fetch-stream', 'long-poll']),
      );
      // Tokens never in logs (§12): the kit sent the real one and made-up ones, in hello and in Authorization.
      const logs = stack.logs();
      expect(logs).toContain('/realtime'); // the logs were read: every piece logs requests or its start
      expect(logs).not.toContain(TOKEN);
      expect(logs).not.toContain('made-up-token');
    },
    240_000,
  );
});
