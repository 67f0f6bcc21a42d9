import type { Level } from './cases/types';
import type { Report, Result } from './runner';

/**
 * The kit's output: one line per case, a summary per level and per transport, and the exit
 * code. A failed MUST is an error, a failed SHOULD a warning, a failed MAY a notice.
 */

export const EXIT = {
  /** Every MUST that ran passed. */
  ok: 0,
  /** At least one MUST failed. */
  mustFailed: 1,
  /** Bad command line, or the server could not be reached. */
  usage: 2,
  /** The application contract is missing: the cases that need it did not run. */
  noApplication: 3,
} as const;

const SEVERITY: Record<Level, string> = { MUST: 'error', SHOULD: 'warning', MAY: 'notice' };

/** One line for one result. */
export function formatResult(r: Result): string {
  const head = `${r.verdict.toUpperCase().padEnd(4)} ${r.id.padEnd(17)} ${r.level.padEnd(6)} ${r.transport.padEnd(12)}`;
  if (r.verdict === 'pass') return `${head} ${r.title}`;
  if (r.verdict === 'skip') return `${head} ${r.title}\n       skipped: ${r.why}`;
  return `${head} ${r.title}\n       ${SEVERITY[r.level]} (${r.section}): expected ${r.expected}; got ${r.got}`;
}

interface Tally {
  pass: number;
  fail: number;
  skip: number;
}

function tally(results: readonly Result[], key: (r: Result) => string): Map<string, Tally> {
  const out = new Map<string, Tally>();
  for (const r of results) {
    const t = out.get(key(r)) ?? { pass: 0, fail: 0, skip: 0 };
    t[r.verdict]++;
    out.set(key(r), t);
  }
  return out;
}

const line = (name: string, t: Tally): string =>
  `  ${name.padEnd(13)} ${t.pass} passed, ${t.fail} failed, ${t.skip} skipped`;

/** The summary printed after the cases. */
export function formatSummary(report: Report): string {
  const out: string[] = [];
  if (report.contract.unreachable) {
    out.push(`Cannot check ${report.target}: ${report.contract.unreachable}`);
    return out.join('\n');
  }
  if (!report.contract.ok) {
    out.push(`The application of docs/conformance.md is missing: ${report.contract.why}`);
    out.push('Cases that need it were skipped; run the server with that application to check them.');
  }
  out.push('By level:');
  for (const [level, t] of tally(report.results, (r) => r.level)) out.push(line(level, t));
  out.push('By transport:');
  for (const [transport, t] of tally(report.results, (r) => r.transport)) out.push(line(transport, t));
  const failedMust = report.results.filter((r) => r.level === 'MUST' && r.verdict === 'fail');
  const all = tally(report.results, () => 'all').get('all') ?? { pass: 0, fail: 0, skip: 0 };
  const verdict = failedMust.length
    ? `NOT CONFORMANT: ${new Set(failedMust.map((r) => r.id)).size} MUST case(s) failed`
    : 'conformant: every MUST case that ran passed';
  out.push(`${verdict} (${(report.ms / 1000).toFixed(1)} s)`);
  out.push(`${all.pass} passed, ${all.fail} failed, ${all.skip} skipped`);
  return out.join('\n');
}

/** The process exit code for a report. */
export function exitCode(report: Report): number {
  if (report.contract.unreachable) return EXIT.usage;
  if (report.results.some((r) => r.level === 'MUST' && r.verdict === 'fail')) return EXIT.mustFailed;
  if (!report.contract.ok) return EXIT.noApplication;
  return EXIT.ok;
}

/** The machine-readable form (`--json`): stable field names, one object. */
export function toJson(report: Report): string {
  return JSON.stringify({ ...report, exitCode: exitCode(report) }, null, 2);
}
