/**
 * Shared by the fuzz and property tests of issue 10: fast-check settings, an oracle for valid
 * frames written from docs/protocol.md §2–§3 (not from src/protocol.ts, so the codec is not
 * checking itself), and generators of frame texts, well-formed and hostile.
 */
import fc from 'fast-check';

/**
 * fast-check settings for every property here. A failure prints its seed and path; replay it with
 * FC_SEED=<seed> FC_PATH=<path> (same test file). FC_RUNS=<n> runs n cases instead of the
 * default, for a longer hunt than the test suite can afford.
 */
export function fcParams<T>(numRuns: number): fc.Parameters<T> {
  const { FC_SEED, FC_PATH, FC_RUNS } = process.env;
  return {
    numRuns: FC_RUNS ? Number(FC_RUNS) : numRuns,
    ...(FC_SEED ? { seed: Number(FC_SEED) } : {}),
    ...(FC_PATH ? { path: FC_PATH } : {}),
    plugins: [readableReport],
  };
}

/**
 * fast-check's own failure report, with long runs of a repeated unit shortened: a counterexample
 * nested 100,000 deep would otherwise print as 200 kB of brackets. The line with the seed and
 * path is left whole, for FC_SEED and FC_PATH.
 */
const readableReport = <T>(): fc.PluginInstance<T> => ({
  onAllRunsComplete(details) {
    if (details.failed)
      throw new Error(abbreviate(fc.defaultReportMessage(details) ?? ''), { cause: details.errorInstance });
  },
});

export const abbreviate = (report: string): string =>
  report
    .split('\n')
    .map((line) =>
      line.startsWith('{ seed:')
        ? line
        : line.replace(/(.{1,20}?)\1{15,}/g, (run, unit: string) => `${unit}…(×${run.length / unit.length})`),
    )
    .join('\n');

// ---- the oracle ---------------------------------------------------------------------------

/** §2: an integer field is a JSON number without fraction, 0 … 2^53−1. (-0 parses as a zero: accepted.) */
const isInteger = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 2 ** 53 - 1;
const isString = (v: unknown): boolean => typeof v === 'string';
const isBoolean = (v: unknown): boolean => typeof v === 'boolean';
/**
 * Only "is an array": §3 says non-integer entries of hello.v are ignored, and welcome.transports is
 * informational (the client reads none of it), so neither side rejects a frame for its entries.
 */
const isArray = (v: unknown): boolean => Array.isArray(v);

type Check = (v: unknown) => boolean;
/** §3's tables: each field's check, and whether it is required. */
const FIELDS: Record<string, Record<string, [Check, boolean]>> = {
  hello: {
    v: [isArray, true],
    a: [isInteger, true],
    sid: [isString, false],
    key: [isString, false],
    max: [isInteger, false],
    token: [isString, false],
  },
  welcome: {
    v: [isInteger, true],
    sid: [isString, true],
    key: [isString, true],
    resumed: [isBoolean, true],
    a: [isInteger, true],
    hb: [isInteger, true],
    max: [isInteger, true],
    transports: [isArray, true],
  },
  msg: { s: [isInteger, true], d: [isArray, true], a: [isInteger, false] },
  ack: { a: [isInteger, true] },
  ping: { a: [isInteger, false] },
  pong: { a: [isInteger, false] },
  close: { code: [isInteger, true], reason: [isString, true] },
};

export const FRAME_TYPES = Object.keys(FIELDS) as Array<
  'hello' | 'welcome' | 'msg' | 'ack' | 'ping' | 'pong' | 'close'
>;

/**
 * Whether a parsed JSON value is a valid frame (§2–§3): an object whose string `t` names a type,
 * with every required field and every present field of the right type; msg needs s >= 1 and a
 * non-empty d. Checks types only, so it never walks into a value, however deep.
 */
export function isValidFrame(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const frame = value as Record<string, unknown>;
  if (typeof frame.t !== 'string' || !Object.hasOwn(FIELDS, frame.t)) return false;
  for (const [name, [check, required]] of Object.entries(FIELDS[frame.t]!)) {
    if (!Object.hasOwn(frame, name)) {
      if (required) return false;
    } else if (!check(frame[name])) return false;
  }
  return frame.t !== 'msg' || ((frame.s as number) >= 1 && (frame.d as unknown[]).length > 0);
}

/** JSON.parse, or undefined for text that is not JSON. */
export function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Deep equality of two JSON values, iterative so that it compares values nested 100,000 deep
 * (a recursive comparison, such as expect().toEqual, overflows the stack on them).
 */
export function sameJson(a: unknown, b: unknown): boolean {
  const pairs: Array<[unknown, unknown]> = [[a, b]];
  while (pairs.length) {
    const [x, y] = pairs.pop()!;
    if (typeof x !== 'object' || x === null || typeof y !== 'object' || y === null) {
      if (!Object.is(x, y)) return false;
      continue;
    }
    if (Array.isArray(x) !== Array.isArray(y)) return false;
    const keys = Object.keys(x);
    if (keys.length !== Object.keys(y).length) return false;
    for (const k of keys) {
      if (!Object.hasOwn(y, k)) return false;
      pairs.push([(x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]]);
    }
  }
  return true;
}

/** One frame of each type with every field, optional ones included (§3). */
export const EVERY_FIELD = {
  hello: { t: 'hello', v: [1], a: 0, sid: 's', key: 'k', max: 4096, token: 'tok' },
  welcome: {
    t: 'welcome',
    v: 1,
    sid: 's',
    key: 'k',
    resumed: true,
    a: 0,
    hb: 25000,
    max: 65536,
    transports: ['websocket'],
  },
  msg: { t: 'msg', s: 1, d: [1], a: 0 },
  ack: { t: 'ack', a: 0 },
  ping: { t: 'ping', a: 0 },
  pong: { t: 'pong', a: 0 },
  close: { t: 'close', code: 1000, reason: '' },
};

/**
 * Each frame of EVERY_FIELD with one field it does not have added, a field of another type:
 * unknown to its type, so never validated, and to be ignored (§2). `value` is its JSON text.
 */
export function withForeignFields(value: string): string[] {
  const names = new Set(Object.values(EVERY_FIELD).flatMap((f) => Object.keys(f)));
  return Object.values(EVERY_FIELD).flatMap((frame) =>
    [...names]
      .filter((name) => !(name in frame))
      .map((name) =>
        frameText([...Object.entries(frame).map(([k, v]): [string, string] => [k, JSON.stringify(v)]), [name, value]]),
      ),
  );
}

// ---- valid frames -------------------------------------------------------------------------

/**
 * Integers JSON carries exactly: the small ones a peer acts on (version 1, sequence numbers and
 * acks near the start) and the extremes, over-represented.
 */
const integer = fc.oneof(fc.constantFrom(0, 1, 2), fc.nat(1000), fc.maxSafeNat(), fc.constant(2 ** 53 - 1));
const text = fc.string({ unit: 'binary', maxLength: 30 });
/**
 * Application payloads. Passed through JSON once, as the wire would: fc.jsonValue() may produce
 * -0, which JSON writes as 0, and objects without a prototype.
 */
export const payload = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
const TRANSPORT_NAMES = ['websocket', 'sse', 'fetch-stream', 'long-poll'];
const record = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }, requiredKeys: Array<keyof T>) =>
  fc.record(model, { requiredKeys, noNullPrototype: true }) as fc.Arbitrary<Record<string, unknown>>;

/** One generator of valid frames per type, following §3. */
export const validFrames: Record<(typeof FRAME_TYPES)[number], fc.Arbitrary<Record<string, unknown>>> = {
  hello: record(
    {
      t: fc.constant('hello'),
      v: fc.oneof(fc.constant([1]), fc.array(integer, { maxLength: 3 })),
      a: integer,
      sid: text,
      key: text,
      max: integer,
      token: text,
    },
    ['t', 'v', 'a'],
  ),
  welcome: record(
    {
      t: fc.constant('welcome'),
      v: fc.oneof(fc.constant(1), integer),
      sid: text,
      key: text,
      resumed: fc.boolean(),
      a: integer,
      hb: integer,
      max: integer,
      transports: fc.subarray(TRANSPORT_NAMES),
    },
    ['t', 'v', 'sid', 'key', 'resumed', 'a', 'hb', 'max', 'transports'],
  ),
  msg: record(
    {
      t: fc.constant('msg'),
      s: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      d: fc.array(payload, { minLength: 1, maxLength: 4 }),
      a: integer,
    },
    ['t', 's', 'd'],
  ),
  ack: record({ t: fc.constant('ack'), a: integer }, ['t', 'a']),
  ping: record({ t: fc.constant('ping'), a: integer }, ['t']),
  pong: record({ t: fc.constant('pong'), a: integer }, ['t']),
  close: record({ t: fc.constant('close'), code: integer, reason: text }, ['t', 'code', 'reason']),
};

export const validFrame = fc.oneof(...Object.values(validFrames));

// ---- hostile frame texts ------------------------------------------------------------------

/** `open` repeated `depth` times around `inner`, then `close` as many times: built as text, since
 * fast-check's recursive arbitraries stay shallow and JSON.stringify would overflow the stack. */
const nestedCache = new Map<string, string>();
export function nested(open: string, inner: string, close: string, depth: number): string {
  const key = `${open}|${inner}|${close}|${depth}`;
  let s = nestedCache.get(key);
  if (s === undefined) nestedCache.set(key, (s = open.repeat(depth) + inner + close.repeat(depth)));
  return s;
}

/** Deeply nested values of every kind, some with a type name or an odd key at every level. */
export const deepValueText = fc
  .record({
    kind: fc.constantFrom<[string, string]>(
      ['[', ']'],
      ['{"a":', '}'],
      ['[{"a":', '}]'],
      ['{"__proto__":', '}'],
      ['{"t":', '}'],
      ['["msg",', ']'],
    ),
    inner: fc.constantFrom('1', '"msg"', '{}', '[]', 'null', '{"t":"ping"}'),
    // 4,000 overflowed the stack once; 100,000 leaves no doubt, but parsing it takes 15–50 ms, so it is the rarer one.
    depth: fc.oneof(
      { arbitrary: fc.constantFrom(1000, 4000), weight: 9 },
      { arbitrary: fc.constant(100_000), weight: 1 },
    ),
  })
  .map(({ kind: [open, close], inner, depth }) => nested(open, inner, close, depth));

/** Numbers that are not integers JSON carries exactly, or are, in odd spellings; and the bounds. */
export const ODD_NUMBERS = [
  '0',
  '1',
  '1e308',
  '-1e308',
  '1e400',
  '-1e400',
  '-0',
  '-0.0',
  '0.0',
  '1.0',
  '1e0',
  '1E+2',
  '0.1e1',
  '5e-324',
  '9007199254740991',
  '9007199254740992',
  '9007199254740993',
  '1.5',
  '-1',
  '0.5',
  '4400.0001',
  '1e21',
];

/** Values of a wrong type for every field kind, and values holding a type name. */
export const WRONG_TYPES = [
  'null',
  'true',
  'false',
  '""',
  '"1"',
  '"msg"',
  '[]',
  '{}',
  '[1]',
  '["msg"]',
  '[["welcome"]]',
  '{"t":"msg"}',
  '{"toString":"msg"}',
  '{"valueOf":1}',
  '{"length":1}',
  '{"0":"x","length":1}',
];

/** A value, as JSON text, for any field: hostile most of the time. */
export const hostileValueText = fc.oneof(
  { arbitrary: fc.constantFrom(...WRONG_TYPES), weight: 3 },
  { arbitrary: fc.constantFrom(...ODD_NUMBERS), weight: 3 },
  { arbitrary: deepValueText, weight: 1 },
  { arbitrary: payload.map((v) => JSON.stringify(v)), weight: 2 },
  { arbitrary: integer.map(String), weight: 2 },
);

/** Keys with meaning to JavaScript objects, and the protocol's own field names (so fields repeat). */
const oddKey = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'toJSON',
  'then',
  '',
  't',
  'v',
  'a',
  's',
  'd',
  'sid',
  'key',
  'max',
  'token',
  'resumed',
  'hb',
  'transports',
  'code',
  'reason',
);

/** `t` values that a lookup in a table of type names could mistake for one. */
const oddTypeText = fc.oneof(
  fc
    .constantFrom(
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'valueOf',
      'isPrototypeOf',
      '',
      'MSG',
      'msg ',
      ' msg',
      'msg\u0000',
      'x'.repeat(10_000),
      '\ud800msg',
    )
    .map((t) => JSON.stringify(t)),
  fc.constantFrom('["msg"]', '[["welcome"]]', '{"toString":"msg"}', '{"t":"msg"}', 'null', '1', 'true', '[]', '{}'),
  fc.constantFrom(...FRAME_TYPES).map((t) => nested('[', JSON.stringify(t), ']', 4000)),
  deepValueText,
);

/** Writes a frame as JSON text from [key, value text] pairs; a key may repeat (JSON.parse keeps the last). */
export const frameText = (entries: Array<[string, string]>): string =>
  `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

/**
 * A valid frame of some type, then spoiled: some fields replaced by hostile values, some removed,
 * odd keys added (or fields repeated), `t` perhaps replaced. Some come out still valid.
 */
export const hostileFrameText = fc
  .record({
    frame: validFrame,
    replace: fc.array(fc.tuple(fc.nat(), hostileValueText), { maxLength: 3 }),
    remove: fc.array(fc.nat(), { maxLength: 2 }),
    extra: fc.array(fc.tuple(oddKey, hostileValueText), { maxLength: 3 }),
    t: fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: oddTypeText, weight: 1 }),
  })
  .map(({ frame, replace, remove, extra, t }) => {
    const entries: Array<[string, string]> = Object.entries(frame).map(([k, v]) => [k, JSON.stringify(v)]);
    for (const [i, value] of replace) entries[i % entries.length]![1] = value;
    for (const i of remove) if (entries.length) entries.splice(i % entries.length, 1);
    if (t !== null) {
      const at = entries.findIndex(([k]) => k === 't');
      if (at >= 0) entries[at]![1] = t;
      else entries.push(['t', t]);
    }
    return frameText([...entries, ...extra]);
  });

/** Any text at all, JSON or not. */
export const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 100 }),
  // Characters JSON is made of, so that near-valid syntax comes up.
  fc.string({ unit: fc.constantFrom(...'{}[]":,. -+eE01tamsgdv\\'), maxLength: 60 }),
);

/** Every kind of text a peer may send, valid frames included. */
export const anyFrameText = fc.oneof(
  { arbitrary: anyText, weight: 1 },
  { arbitrary: fc.json({ maxDepth: 5 }), weight: 1 },
  { arbitrary: validFrame.map((f) => JSON.stringify(f)), weight: 1 },
  { arbitrary: hostileFrameText, weight: 4 },
);
