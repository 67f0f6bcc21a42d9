/**
 * The conformance kit, for programmatic use (`realtime-client/conformance`): run the cases
 * against a server from your own test suite.
 *
 * ```ts
 * import { runConformance, endpoint, exitCode } from 'realtime-client/conformance';
 * const report = await runConformance({ target: { ...endpoint('http://127.0.0.1:8080/realtime'), scale: 1 } });
 * ```
 */
export { runConformance, type Report, type Result, type RunOptions, type Verdict } from './runner';
export { CASES } from './catalog';
export { endpoint, type Target } from './target';
export { exitCode, formatResult, formatSummary, toJson, EXIT } from './reporter';
export { main, USAGE } from './cli';
export type { Case, Level, Need } from './cases/types';
export { TRANSPORTS } from './transports/index';
