import { parseArgs } from 'node:util';
import { CASES } from './catalog';
import { UsageError } from './errors';
import { EXIT, exitCode, formatResult, formatSummary, toJson } from './reporter';
import { runConformance } from './runner';
import { endpoint, type Target } from './target';
import { TRANSPORTS } from './transports/index';

export const USAGE = `Usage: realtime-client-conformance <url> [options]

Checks a server against realtime wire protocol v1 (docs/protocol.md), over WebSocket, SSE,
fetch-stream and long-poll. The server must run the application of docs/conformance.md.

  <url>                  the endpoint, e.g. http://127.0.0.1:8080/realtime (ws:// works too)

Options:
  --transports <list>    comma-separated, from websocket,sse,fetch-stream,long-poll (default: all)
  --only <ids>           run only these case ids, comma-separated (e.g. V1-RESUME-003,V1-SEQ-003)
  --origin <origin>      an origin the server allows: sent on every request, enables the Origin cases
  --token <token>        a token the server accepts: sent as a real client would, enables the auth cases
  --timeout-scale <n>    multiply every wait by n, for slow servers (default 1)
  --json                 print the results as one JSON object instead of lines
  --list                 print the cases (id, level, section, title) and exit
  -h, --help             print this help and exit

Exit codes: 0 every MUST case that ran passed; 1 a MUST case failed; 2 bad usage or server
unreachable; 3 the application contract is missing (the cases that need it did not run).`;

/** Where the CLI writes: the process's streams, or a test's buffers. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const processOutput: Output = {
  out: (text) => void process.stdout.write(`${text}\n`),
  err: (text) => void process.stderr.write(`${text}\n`),
};

interface Parsed {
  target: Target;
  transports: typeof TRANSPORTS;
  only?: string[];
  json: boolean;
}

function list(value: string | undefined): string[] | undefined {
  return value
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Reads the command line; throws UsageError on anything it cannot use. */
export function parse(argv: readonly string[]): Parsed | 'help' | 'list' {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        transports: { type: 'string' },
        only: { type: 'string' },
        origin: { type: 'string' },
        token: { type: 'string' },
        'timeout-scale': { type: 'string' },
        json: { type: 'boolean' },
        list: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  if (values.list) return 'list';
  if (positionals.length !== 1)
    throw new UsageError(positionals.length ? 'give exactly one URL' : 'missing the server URL');
  const scale = values['timeout-scale'] === undefined ? 1 : Number(values['timeout-scale']);
  if (!(scale > 0 && scale <= 100)) throw new UsageError('--timeout-scale must be a number above 0 (at most 100)');
  const names = list(values.transports as string | undefined);
  const transports = names ? names.map((n) => TRANSPORTS.find((t) => t.name === n) ?? unknownTransport(n)) : TRANSPORTS;
  const only = list(values.only as string | undefined);
  for (const id of only ?? [])
    if (!CASES.some((c) => c.id === id)) throw new UsageError(`no case ${id} (--list shows them)`);
  const { http, ws } = endpoint(positionals[0]!);
  const origin = values.origin as string | undefined;
  const token = values.token as string | undefined;
  return {
    target: { http, ws, scale, ...(origin ? { origin } : {}), ...(token ? { token } : {}) },
    transports,
    ...(only ? { only } : {}),
    json: values.json === true,
  };
}

function unknownTransport(name: string): never {
  throw new UsageError(`unknown transport ${name}: use ${TRANSPORTS.map((t) => t.name).join(', ')}`);
}

/** Runs the command; resolves with the exit code. */
export async function main(argv: readonly string[], io: Output = processOutput): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`realtime-client-conformance: ${err.message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (parsed === 'help') {
    io.out(USAGE);
    return EXIT.ok;
  }
  if (parsed === 'list') {
    for (const c of CASES) io.out(`${c.id.padEnd(17)} ${c.level.padEnd(6)} ${c.section.padEnd(6)} ${c.title}`);
    return EXIT.ok;
  }
  const { target, transports, only, json } = parsed;
  const report = await runConformance({
    target,
    transports,
    ...(only ? { only } : {}),
    ...(json ? {} : { onResult: (r) => io.out(formatResult(r)) }),
  });
  if (json) io.out(toJson(report));
  else io.out(formatSummary(report));
  return exitCode(report);
}
