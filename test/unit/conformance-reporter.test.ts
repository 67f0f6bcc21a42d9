// @vitest-environment node
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { main, parse } from '../../src/conformance/cli';
import { CASES } from '../../src/conformance/catalog';
import { EXIT, exitCode, formatResult, formatSummary, toJson } from '../../src/conformance/reporter';
import type { Report, Result } from '../../src/conformance/runner';

const result = (over: Partial<Result>): Result => ({
  id: 'V1-TEST-001',
  level: 'MUST',
  section: '§6',
  title: 'a rule',
  transport: 'websocket',
  verdict: 'pass',
  ms: 1,
  ...over,
});
const report = (results: Result[], contract: Report['contract'] = { ok: true }): Report => ({
  target: 'http://x/realtime',
  contract,
  results,
  ms: 1234,
});

describe('conformance reporter', () => {
  it('prints one line per pass, and what was expected and what came for a failure, with its severity', () => {
    expect(formatResult(result({}))).toMatch(/^PASS V1-TEST-001 +MUST +websocket +a rule$/);
    const fail = formatResult(result({ verdict: 'fail', level: 'SHOULD', expected: 'one frame', got: '2 frames' }));
    expect(fail).toMatch(/^FAIL V1-TEST-001/);
    expect(fail).toContain('warning (§6): expected one frame; got 2 frames');
    expect(formatResult(result({ verdict: 'fail', level: 'MAY', expected: 'a', got: 'b' }))).toContain('notice (§6)');
    expect(formatResult(result({ verdict: 'skip', why: 'needs --origin' }))).toContain('skipped: needs --origin');
  });

  it('sums up per level and per transport, and says plainly when the application is missing', () => {
    const r = report(
      [
        result({}),
        result({ verdict: 'fail', level: 'SHOULD', transport: 'long-poll' }),
        result({ verdict: 'skip', transport: 'long-poll' }),
      ],
      { ok: false, why: 'no echo' },
    );
    const text = formatSummary(r);
    expect(text).toContain('The application of docs/conformance.md is missing: no echo');
    expect(text).toMatch(/MUST +1 passed, 0 failed, 1 skipped/);
    expect(text).toMatch(/SHOULD +0 passed, 1 failed, 0 skipped/);
    expect(text).toMatch(/long-poll +0 passed, 1 failed, 1 skipped/);
    expect(text).toContain('1 passed, 1 failed, 1 skipped');
  });

  it('exit code: 1 only for a failed MUST, 3 without the application, 2 when unreachable, else 0', () => {
    expect(exitCode(report([result({}), result({ verdict: 'fail', level: 'SHOULD' })]))).toBe(EXIT.ok);
    expect(exitCode(report([result({ verdict: 'fail' })]))).toBe(EXIT.mustFailed);
    expect(exitCode(report([result({ verdict: 'skip' })], { ok: false, why: 'x' }))).toBe(EXIT.noApplication);
    expect(exitCode(report([result({ verdict: 'fail' })], { ok: false, why: 'x' }))).toBe(EXIT.mustFailed);
    expect(exitCode(report([], { ok: false, unreachable: 'refused' }))).toBe(EXIT.usage);
    expect(JSON.parse(toJson(report([result({ verdict: 'fail' })])))).toMatchObject({
      exitCode: 1,
      results: [{ id: 'V1-TEST-001', verdict: 'fail' }],
    });
  });
});

describe('conformance command line', () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
  };

  it('reads the URL and options; any http(s) or ws(s) URL gives both endpoint forms', () => {
    const p = parse([
      'ws://127.0.0.1:9/rt',
      '--transports',
      'sse,long-poll',
      '--only',
      'V1-SEQ-003',
      '--origin',
      'https://a.test',
      '--token',
      't',
      '--timeout-scale',
      '2.5',
      '--json',
    ]);
    expect(p).toMatchObject({
      target: {
        http: 'http://127.0.0.1:9/rt',
        ws: 'ws://127.0.0.1:9/rt',
        origin: 'https://a.test',
        token: 't',
        scale: 2.5,
      },
      only: ['V1-SEQ-003'],
      json: true,
    });
    expect(typeof p === 'object' && p.transports.map((t) => t.name)).toEqual(['sse', 'long-poll']);
  });

  it.each([
    [[], /missing the server URL/],
    [['a', 'b'], /exactly one URL/],
    [['ftp://x/rt'], /http\(s\) or ws\(s\)/],
    [['http://x/rt?transport=sse'], /query string/],
    [['http://x/rt', '--transports', 'pigeon'], /unknown transport pigeon/],
    [['http://x/rt', '--only', 'V1-NOPE-001'], /no case V1-NOPE-001/],
    [['http://x/rt', '--timeout-scale', '0'], /timeout-scale/],
    [['http://x/rt', '--bogus'], /bogus/],
  ])('refuses %j with exit code 2 and the usage', async (argv, message) => {
    const c = capture();
    expect(await main(argv, c.io)).toBe(EXIT.usage);
    expect(c.err.join('\n')).toMatch(message);
    expect(c.err.join('\n')).toContain('Usage: realtime-client-conformance');
  });

  it('--help prints the usage, --list every case, both exit 0', async () => {
    const help = capture();
    expect(await main(['--help'], help.io)).toBe(0);
    expect(help.out.join('\n')).toMatch(/^Usage:/);
    const list = capture();
    expect(await main(['--list'], list.io)).toBe(0);
    expect(list.out).toHaveLength(CASES.length);
    expect(list.out[0]).toMatch(/^V1-[A-Z]+-\d{3} +MUST/);
  });

  it('a server that is not there: one plain sentence and exit code 2, no case run', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    const c = capture();
    expect(await main([`http://127.0.0.1:${port}/realtime`, '--transports', 'websocket'], c.io)).toBe(EXIT.usage);
    expect(c.out.join('\n')).toMatch(/^Cannot check http:\/\/127\.0\.0\.1:\d+\/realtime: no welcome over websocket/);
    expect(c.out.join('\n')).not.toMatch(/PASS|FAIL/);
  });
});
