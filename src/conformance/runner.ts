import { CASES } from './catalog';
import { checkContract, type ContractResult } from './contract';
import { RunContext } from './context';
import { CaseFailure, CaseSkipped } from './errors';
import type { Case, Level } from './cases/types';
import type { Target } from './target';
import { TRANSPORTS, type TransportDriver } from './transports/index';

export type Verdict = 'pass' | 'fail' | 'skip';

/** One case on one transport. */
export interface Result {
  id: string;
  level: Level;
  section: string;
  title: string;
  transport: string;
  verdict: Verdict;
  /** fail: what the protocol requires. */
  expected?: string;
  /** fail: what came instead. */
  got?: string;
  /** skip: why the case could not run. */
  why?: string;
  ms: number;
}

export interface Report {
  target: string;
  contract: ContractResult;
  results: Result[];
  ms: number;
}

export interface RunOptions {
  target: Target;
  /** Transports to check (default: all four). */
  transports?: readonly TransportDriver[];
  /** Case ids to run (default: all). */
  only?: readonly string[];
  /** The case list (default: the catalog). */
  cases?: readonly Case[];
  /** Called after each case, for live output. */
  onResult?: (result: Result) => void;
}

const DEFAULT_CASE_TIMEOUT_MS = 10_000;

/** Runs the cases against the target: the application contract first, then every case on every transport. */
export async function runConformance(options: RunOptions): Promise<Report> {
  const started = Date.now();
  const { target } = options;
  const drivers = options.transports ?? TRANSPORTS;
  const only = options.only ? new Set(options.only) : null;
  const cases = (options.cases ?? CASES).filter((c) => !only || only.has(c.id));
  const contract = await checkContract(target, drivers[0]!);
  const results: Result[] = [];
  if (contract.unreachable) return { target: target.http, contract, results, ms: Date.now() - started };
  for (const driver of drivers) {
    for (const c of cases) {
      if (c.applies && !c.applies(driver)) continue;
      const result = await runCase(c, driver, target, contract);
      results.push(result);
      options.onResult?.(result);
    }
  }
  return { target: target.http, contract, results, ms: Date.now() - started };
}

/** Why a case cannot run against this target, or undefined when it can. */
function unmet(c: Case, driver: TransportDriver, target: Target, contract: ContractResult): string | undefined {
  if (contract.offered && !contract.offered.includes(driver.name))
    return `the server does not offer ${driver.name} (welcome.transports)`;
  for (const need of c.needs ?? []) {
    if (need === 'app' && !contract.ok) return `the application of docs/conformance.md is missing: ${contract.why}`;
    if (need === 'origin' && !target.origin)
      return 'needs --origin (an origin the server allows) to know the server checks origins';
    if (need === 'token' && !target.token)
      return 'needs --token (a token the server accepts) to know the server authenticates';
  }
}

async function runCase(c: Case, driver: TransportDriver, target: Target, contract: ContractResult): Promise<Result> {
  const base = { id: c.id, level: c.level, section: c.section, title: c.title, transport: driver.name };
  const started = Date.now();
  const why = unmet(c, driver, target, contract);
  if (why) return { ...base, verdict: 'skip', why, ms: 0 };
  const ctx = new RunContext(target, driver);
  const limit = ctx.ms(c.timeout ?? DEFAULT_CASE_TIMEOUT_MS);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const overtime = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CaseFailure(`the case to finish within ${limit} ms`, 'it did not')), limit);
  });
  try {
    await Promise.race([c.run(ctx), overtime]);
    return { ...base, verdict: 'pass', ms: Date.now() - started };
  } catch (err) {
    const ms = Date.now() - started;
    if (err instanceof CaseSkipped) return { ...base, verdict: 'skip', why: err.why, ms };
    if (err instanceof CaseFailure) return { ...base, verdict: 'fail', expected: err.expected, got: err.got, ms };
    return {
      ...base,
      verdict: 'fail',
      expected: 'the exchange to complete',
      got: `${(err as Error)?.message ?? String(err)}`,
      ms,
    };
  } finally {
    clearTimeout(timer);
    await ctx.dispose();
  }
}
