// @vitest-environment node
import { afterEach, describe, expect, it } from 'vitest';
import { faults } from '../../src/server/faults';
import { exitCode, main, runConformance, TRANSPORTS, type Case, type Report } from '../../src/conformance/index';
import { CaseFailure, CaseSkipped } from '../../src/conformance/errors';
import { formatResult } from '../../src/conformance/reporter';
import type { RealtimeServer, RealtimeServerOptions } from '../../src/server/index';
// @ts-expect-error: a plain .mjs example, without types
import { conformanceApp as untypedConformanceApp } from '../../examples/conformance-server.mjs';
import { testScope, type Running } from './harness';

/** The example's export, typed here (the .mjs has none): it attaches the conformance application to a server. */
const conformanceApp = untypedConformanceApp as (rt: RealtimeServer) => void;

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

const scope = testScope();
afterEach(() => {
  for (const name of Object.keys(faults) as Array<keyof typeof faults>) faults[name] = false;
});

/** The reference server with the conformance application of docs/conformance.md, closed after the test. */
async function start(options: RealtimeServerOptions = OPTIONS): Promise<Running> {
  const s = await scope.server(options);
  conformanceApp(s.rt);
  return s;
}

async function kit(
  s: Running,
  only?: string[],
  transports?: Parameters<typeof runConformance>[0]['transports'],
): Promise<Report> {
  return runConformance({
    target: { http: s.base, ws: s.url, origin: ORIGIN, token: TOKEN, scale: 1 },
    ...(only ? { only } : {}),
    ...(transports ? { transports } : {}),
  });
}

const failures = (r: Report): string[] => r.results.filter((x) => x.verdict !== 'pass').map(formatResult);

describe('the conformance kit against the reference server', () => {
  it('passes every case on every transport', async () => {
    const s = await start();
    const report = await kit(s);
    console.log(`[conformance] ${report.results.length} case runs in ${report.ms} ms`);
    console.log(
      [...report.results]
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 40)
        .map((r) => `${r.ms} ${r.id} ${r.transport}`)
        .join('\n'),
    );
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
  it.each(MUTATIONS)(
    '$fault: fails $cases',
    async ({ fault, cases, transports }) => {
      const s = await start();
      faults[fault] = true;
      const report = await kit(
        s,
        cases,
        TRANSPORTS.filter((t) => transports.includes(t.name)),
      );
      const failed = report.results.filter((r) => r.verdict === 'fail');
      console.log(`[conformance] fault ${fault} (${report.ms} ms):\n${failed.map(formatResult).join('\n')}`);
      // Every named case fails on every transport it ran on, and nothing else was run.
      expect(report.results.map((r) => `${r.id} ${r.transport}`).sort()).toEqual(
        cases.flatMap((c) => transports.map((t) => `${c} ${t}`)).sort(),
      );
      expect(failed.map((r) => `${r.id} ${r.transport}`).sort()).toEqual(
        cases.flatMap((c) => transports.map((t) => `${c} ${t}`)).sort(),
      );
    },
    60_000,
  );
});

describe('the conformance kit run as a whole', () => {
  it('says plainly when the application is missing: the cases that need it are skipped, the others run, exit code 3', async () => {
    const s = await scope.server(OPTIONS); // no application attached
    const report = await kit(
      s,
      ['V1-HANDSHAKE-001', 'V1-SEQ-001'],
      TRANSPORTS.filter((t) => t.name === 'websocket'),
    );
    expect(report.contract).toMatchObject({
      ok: false,
      why: expect.stringContaining('runs no conformance application') as unknown,
    });
    expect(report.results.map((r) => [r.id, r.verdict, r.why])).toEqual([
      ['V1-HANDSHAKE-001', 'pass', undefined],
      ['V1-SEQ-001', 'skip', expect.stringContaining('the application of docs/conformance.md is missing')],
    ]);
    expect(exitCode(report)).toBe(3);
  });

  it('maps what a case does to a verdict: a failure, a skip, an unexpected error, a case over its time', async () => {
    const s = await start({ ...OPTIONS, allowedOrigins: undefined }); // so the kit may go without --origin
    const base = { level: 'MUST' as const, section: '§6', title: 'a case of this test' };
    const cases: Case[] = [
      { ...base, id: 'V1-TEST-001', run: async () => {} },
      {
        ...base,
        id: 'V1-TEST-002',
        run: () => Promise.reject(new CaseFailure('this', 'that')),
      },
      {
        ...base,
        id: 'V1-TEST-003',
        run: () => Promise.reject(new CaseSkipped('no reason to run')),
      },
      {
        ...base,
        id: 'V1-TEST-004',
        run: () => Promise.reject(new Error('socket hang up')),
      },
      { ...base, id: 'V1-TEST-005', timeout: 50, run: () => new Promise(() => {}) },
      { ...base, id: 'V1-TEST-006', needs: ['origin'], run: async () => {} },
      { ...base, id: 'V1-TEST-007', applies: (d) => d.polls, run: async () => {} },
    ];
    const target = { http: s.base, ws: s.url, token: TOKEN, scale: 1 };
    const report = await runConformance({
      target,
      cases,
      transports: TRANSPORTS.filter((t) => t.name === 'websocket'),
    });
    expect(report.results.map((r) => [r.id, r.verdict, r.expected ?? r.why, r.got])).toEqual([
      ['V1-TEST-001', 'pass', undefined, undefined],
      ['V1-TEST-002', 'fail', 'this', 'that'],
      ['V1-TEST-003', 'skip', 'no reason to run', undefined],
      ['V1-TEST-004', 'fail', 'the exchange to complete', 'socket hang up'],
      ['V1-TEST-005', 'fail', 'the case to finish within 50 ms', 'it did not'],
      ['V1-TEST-006', 'skip', expect.stringContaining('needs --origin'), undefined],
    ]);
  });

  it('the command: one line per case, the verdict, exit code 1 for a failed MUST and 0 once fixed', async () => {
    const s = await start();
    const argv = [
      s.base,
      '--transports',
      'websocket,sse',
      '--only',
      'V1-SEQ-003,V1-BATCH-001',
      '--token',
      TOKEN,
      '--origin',
      ORIGIN,
    ];
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t) };
    faults.noDedupe = true;
    expect(await main(argv, io)).toBe(1);
    const text = out.join('\n');
    expect(text).toMatch(/^FAIL V1-SEQ-003 +MUST +websocket/m);
    expect(text).toMatch(/^FAIL V1-SEQ-003 +MUST +sse/m);
    expect(text).toContain('error (§6): expected x, y, z, end each echoed once; got ["x","y","y","z","end"]');
    expect(text).toMatch(/^PASS V1-BATCH-001 +SHOULD +websocket/m);
    expect(text).toMatch(/^ {2}MUST +0 passed, 2 failed, 0 skipped$/m);
    expect(text).toMatch(/^ {2}sse +1 passed, 1 failed, 0 skipped$/m);
    expect(text).toContain('NOT CONFORMANT: 1 MUST case(s) failed');
    faults.noDedupe = false;
    out.length = 0;
    expect(await main([...argv, '--json'], io)).toBe(0);
    expect(JSON.parse(out.join('\n'))).toMatchObject({ exitCode: 0, contract: { ok: true } });
  });
});
