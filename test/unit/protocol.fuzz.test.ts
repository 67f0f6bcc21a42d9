// @vitest-environment node
// (decodeFrame is pure: no DOM needed, and each case parses up to a few hundred kB.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeMessages } from '../../src/protocol';
import {
  anyText,
  EVERY_FIELD,
  fcParams,
  frameText,
  hostileFrameText,
  isValidFrame,
  nested,
  ODD_NUMBERS,
  parseOrUndefined,
  sameJson,
  validFrame,
  validFrames,
  WRONG_TYPES,
} from './fuzz';

/**
 * Longest acceptable reason. The longest is "unknown frame type " and the first 40 UTF-16 units
 * of t as a JSON string: 40 control characters escape to 6 characters each, 261 in all. What
 * matters is that it is bounded whatever the frame holds (the server truncates close reasons further).
 */
const MAX_REASON = 300;

/**
 * The contract of decodeFrame for any text: it does not throw, and it agrees with the oracle:
 * for a valid frame it returns that frame, exactly as JSON.parse reads it (payloads untouched);
 * for anything else a non-empty, bounded reason.
 */
function decodesAsTheOracleSays(text: string): void {
  const out = decodeFrame(text);
  const parsed = parseOrUndefined(text);
  const valid = parsed !== undefined && isValidFrame(parsed);
  if (typeof out === 'string') {
    expect(valid, `decodeFrame refused a valid frame with "${out}"`).toBe(false);
    expect(out.length).toBeGreaterThan(0);
    expect(out.length).toBeLessThanOrEqual(MAX_REASON);
  } else {
    expect(valid, 'decodeFrame returned a frame the oracle finds invalid').toBe(true);
    expect(sameJson(out, parsed), 'decodeFrame returned something other than the parsed frame').toBe(true);
  }
}

describe('decodeFrame fuzz: never throws, and returns a frame exactly when the oracle says the text is one', () => {
  it('arbitrary strings', () => {
    fc.assert(fc.property(anyText, decodesAsTheOracleSays), fcParams(2000));
  });

  it('arbitrary JSON', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.json({ maxDepth: 6 }),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        decodesAsTheOracleSays,
      ),
      fcParams(2000),
    );
  });

  it('frames of every type with fields replaced, removed or repeated: wrong types, values nested up to 100,000 deep, odd numbers, odd keys and odd t', () => {
    fc.assert(fc.property(hostileFrameText, decodesAsTheOracleSays), fcParams(500));
  });

  it('every field of every frame type, t, and an unknown field, holding a value 100,000 deep', () => {
    // The random cases above reach 100,000 only now and then (each costs tens of ms): this sweep
    // makes sure every field met one. Arrays and objects alternate between fields.
    const deep = [nested('[', '"msg"', ']', 100_000), nested('{"__proto__":', '{"t":"msg"}', '}', 100_000)];
    let n = 0;
    for (const frame of Object.values(EVERY_FIELD)) {
      for (const field of [...Object.keys(frame), 'unknown']) {
        const entries = Object.entries({ ...frame, [field]: null }).map(([k, v]): [string, string] => [
          k,
          k === field ? deep[n++ % 2]! : JSON.stringify(v),
        ]);
        decodesAsTheOracleSays(frameText(entries));
      }
    }
    expect(n).toBe(36);
  }, 30_000); // 72 parses of 100,000-deep values: 2-4 s on 2 busy cores, past the unit default of 5 s under more load

  it('every field of every frame type, t, and an unknown field, holding each odd number and each value of a wrong type', () => {
    // Exhaustive where the random cases are sparse: one field at a time, every value.
    let n = 0;
    for (const frame of Object.values(EVERY_FIELD)) {
      for (const field of [...Object.keys(frame), 'unknown']) {
        for (const value of [...ODD_NUMBERS, ...WRONG_TYPES]) {
          decodesAsTheOracleSays(
            frameText(
              Object.entries({ ...frame, [field]: null }).map(([k, v]) => [k, k === field ? value : JSON.stringify(v)]),
            ),
          );
          n++;
        }
      }
    }
    expect(n).toBe(36 * (ODD_NUMBERS.length + WRONG_TYPES.length));
  });

  it('the hostile generator yields valid and invalid frames of every type, and deep values, so the property above is not vacuous', () => {
    const texts = fc.sample(hostileFrameText, { numRuns: 500, seed: 1 });
    const valid = texts.map(parseOrUndefined).filter(isValidFrame) as Array<{ t: string }>;
    expect(new Set(valid.map((f) => f.t)).size).toBe(7);
    expect(valid.length).toBeGreaterThan(20);
    expect(texts.length - valid.length).toBeGreaterThan(250);
    expect(texts.filter((t) => t.length > 100_000).length).toBeGreaterThan(3);
  });
});

describe('decodeFrame round trip', () => {
  it('every valid frame decodes to itself', () => {
    fc.assert(
      fc.property(validFrame, (frame) => {
        expect(isValidFrame(frame), 'the generator made an invalid frame').toBe(true);
        expect(decodeFrame(JSON.stringify(frame))).toEqual(frame);
      }),
      fcParams(2000),
    );
  });

  it('msg frames built by encodeMessages decode to the messages given, in order', () => {
    fc.assert(
      fc.property(validFrames.msg, (frame) => {
        const { s, d, a } = frame as { s: number; d: unknown[]; a?: number };
        const text = encodeMessages(
          s,
          d.map((m) => JSON.stringify(m)),
          a,
        );
        expect(decodeFrame(text)).toEqual(frame);
      }),
      fcParams(1000),
    );
  });
});
