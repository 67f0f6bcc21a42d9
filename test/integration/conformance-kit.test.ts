// @vitest-environment node
import { afterEach, describe, expect, it } from 'vitest';
import { faults } from '../../src/server/faults';
import { runConformance, TRANSPORTS, type Report } from '../../src/conformance/index';
import { formatResult } from '../../src/conformance/reporter';
import type { RealtimeServerOptions } from '../../src/server/index';
// @ts-expect-error: a plain .mjs example, without types
import { conformanceApp } from '../../examples/conformance-server.mjs';
import { startServer, type Running } from './harness';

/**
 * The conformance kit against the reference server: every case passes on every transport, and
 * each deliberate fault of src/server/faults.ts makes the case that names it fail.
 */

const ORIGIN = 'http://app.conformance.test';
const TOKEN = 'conformance-token';

/** Short timers, so the deadline cases (handshake, heartbeat) take about a second each. */
const OPTIONS: RealtimeServerOptions = {
  heartbeatInterval: 1000,
  handshakeTimeout: 500,
  allowedOrigins: [ORIGIN],
  authenticate: (token) => token === TOKEN,
  maxSessionsPerIp: 10_000,
};

let server: Running | null = null;
afterEach(async () => {
  for (const name of Object.keys(faults) as Array<keyof typeof faults>) faults[name] = false;
  await server?.close();
  server = null;
});

async function start(): Promise<Running> {
  server = await startServer(OPTIONS);
  conformanceApp(server.rt);
  return server;
}

async function kit(s: Running, only?: string[], transports?: Parameters<typeof runConformance>[0]['transports']): Promise<Report> {
  return runConformance({ target: { http: `http://127.0.0.1:${s.port}/realtime`, ws: s.url, origin: ORIGIN, token: TOKEN, scale: 1 }, ...(only ? { only } : {}), ...(transports ? { transports } : {}) });
}

const failures = (r: Report): string[] => r.results.filter((x) => x.verdict !== 'pass').map(formatResult);

describe('the conformance kit against the reference server', () => {
  it('passes every case on every transport', async () => {
    const s = await start();
    const report = await kit(s);
    console.log(`[conformance] ${report.results.length} case runs in ${report.ms} ms`);
    console.log([...report.results].sort((a, b) => b.ms - a.ms).slice(0, 40).map((r) => `${r.ms} ${r.id} ${r.transport}`).join('\n'));
    expect(report.contract).toMatchObject({ ok: true });
    expect(failures(report)).toEqual([]);
  }, 240_000);
});

/**
 * Each fault of src/server/faults.ts with the case that must catch it. A fault that does not
 * depend on the transport is run on WebSocket only; the Origin check differs per transport.
 */
const MUTATIONS: Array<{ fault: keyof typeof faults; cases: string[]; transports: string[] }> = [
  { fault: 'noDedupe', cases: ['V1-SEQ-002', 'V1-SEQ-003', 'V1-RESUME-009'], transports: ['websocket'] },
  { fault: 'replayPastAck', cases: ['V1-RESUME-002'], transports: ['websocket'] },
  { fault: 'ackAhead', cases: ['V1-ACK-002'], transports: ['websocket'] },
  { fault: 'noKeyCheck', cases: ['V1-RESUME-003'], transports: ['websocket'] },
  { fault: 'ignoreOrigin', cases: ['V1-ORIGIN-001'], transports: ['websocket', 'sse', 'long-poll'] },
];

describe('the conformance kit against a reference server with a deliberate fault', () => {
  it.each(MUTATIONS)('$fault: fails $cases', async ({ fault, cases, transports }) => {
    const s = await start();
    faults[fault] = true;
    const report = await kit(s, cases, TRANSPORTS.filter((t) => transports.includes(t.name)));
    const failed = report.results.filter((r) => r.verdict === 'fail');
    console.log(`[conformance] fault ${fault} (${report.ms} ms):\n${failed.map(formatResult).join('\n')}`);
    // Every named case fails on every transport it ran on, and nothing else was run.
    expect(report.results.map((r) => `${r.id} ${r.transport}`).sort()).toEqual(cases.flatMap((c) => transports.map((t) => `${c} ${t}`)).sort());
    expect(failed.map((r) => `${r.id} ${r.transport}`).sort()).toEqual(cases.flatMap((c) => transports.map((t) => `${c} ${t}`)).sort());
  }, 60_000);
});
