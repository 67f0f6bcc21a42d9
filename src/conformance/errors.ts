/** Typed errors of the conformance kit: a case's verdict travels as one of these. */

/** The server did something other than what the case expects. */
export class CaseFailure extends Error {
  override readonly name = 'CaseFailure';
  constructor(
    /** What docs/protocol.md requires, in a few words. */
    readonly expected: string,
    /** What came instead. */
    readonly got: string,
  ) {
    super(`expected ${expected}, got ${got}`);
  }
}

/** The case cannot run here (an option it needs was not given, the server does not offer something). */
export class CaseSkipped extends Error {
  override readonly name = 'CaseSkipped';
  constructor(readonly why: string) {
    super(why);
  }
}

/** A wait ran out: a failure whose `got` says what was waited for. */
export class TimedOut extends CaseFailure {
  constructor(what: string, ms: number) {
    super(what, `nothing within ${ms} ms`);
  }
}

/** Bad command line or options. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Throws a CaseFailure unless `ok`. */
export function check(ok: boolean, expected: string, got: () => string): asserts ok {
  if (!ok) throw new CaseFailure(expected, got());
}

/** A short printable form of a value for failure messages (never walks far: server input may be hostile). */
export function show(value: unknown, max = 200): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = '(unprintable)';
  }
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}
