import { describe, it, expect } from 'vitest';
import { decodeFrame, encodeMessages, packFrames, utf8Length, isRetryableClose, CloseCode } from '../../src/protocol';

const welcome = {
  t: 'welcome',
  v: 1,
  sid: 's1',
  key: 'k1',
  resumed: false,
  a: 0,
  hb: 25000,
  max: 65536,
  transports: ['websocket', 'sse'],
};

describe('decodeFrame: valid frames', () => {
  it.each([
    ['hello (minimal)', { t: 'hello', v: [1], a: 0 }],
    ['hello (resume with token)', { t: 'hello', v: [1], sid: 's', key: 'k', a: 4, token: 'tok' }],
    ['hello with the client frame limit', { t: 'hello', v: [1], a: 0, max: 4096 }],
    ['welcome', welcome],
    ['msg', { t: 'msg', s: 1, d: [{ x: 1 }, 'two', null] }],
    ['msg with ack', { t: 'msg', s: 7, d: [1], a: 3 }],
    ['ack', { t: 'ack', a: 0 }],
    ['ping', { t: 'ping' }],
    ['ping with ack', { t: 'ping', a: 5 }],
    ['pong', { t: 'pong', a: 2 }],
    ['close', { t: 'close', code: 1000, reason: '' }],
  ])('accepts %s', (_name, frame) => {
    expect(decodeFrame(JSON.stringify(frame))).toEqual(frame);
  });
});

describe('decodeFrame: invalid input returns a string, never throws', () => {
  it.each([
    ['invalid JSON', '{"t":"msg",'],
    ['empty text', ''],
    ['a number', '42'],
    ['a string', '"msg"'],
    ['null', 'null'],
    ['an array', '[{"t":"ping"}]'],
    ['unknown type', '{"t":"bogus"}'],
    ['missing type', '{"a":1}'],
    ['msg with s=0', '{"t":"msg","s":0,"d":[1]}'],
    ['msg with negative s', '{"t":"msg","s":-1,"d":[1]}'],
    ['msg with fractional s', '{"t":"msg","s":1.5,"d":[1]}'],
    ['msg with empty d', '{"t":"msg","s":1,"d":[]}'],
    ['msg with d not an array', '{"t":"msg","s":1,"d":{"0":1}}'],
    ['msg with negative ack', '{"t":"msg","s":1,"d":[1],"a":-1}'],
    ['msg with fractional ack', '{"t":"msg","s":1,"d":[1],"a":0.5}'],
    ['ack with negative a', '{"t":"ack","a":-1}'],
    ['ack with fractional a', '{"t":"ack","a":2.5}'],
    ['ack without a', '{"t":"ack"}'],
    ['ack with string a', '{"t":"ack","a":"3"}'],
    ['ping with negative ack', '{"t":"ping","a":-3}'],
    ['close without reason', '{"t":"close","code":1000}'],
    ['hello without a', '{"t":"hello","v":[1]}'],
    ['hello with numeric token', '{"t":"hello","v":[1],"a":0,"token":5}'],
    ['hello with a string max', '{"t":"hello","v":[1],"a":0,"max":"4096"}'],
    ['hello with a fractional max', '{"t":"hello","v":[1],"a":0,"max":1.5}'],
  ])('%s', (_name, text) => {
    let out: unknown;
    expect(() => (out = decodeFrame(text))).not.toThrow();
    expect(typeof out).toBe('string');
    expect((out as string).length).toBeGreaterThan(0);
  });

  it.each(['v', 'sid', 'key', 'resumed', 'a', 'hb', 'max', 'transports'])('welcome missing %s', (field) => {
    const f: Record<string, unknown> = { ...welcome };
    delete f[field];
    expect(decodeFrame(JSON.stringify(f))).toBe(`welcome frame has a missing or bad "${field}"`);
  });

  it('unknown type message names the type, truncated', () => {
    expect(decodeFrame('{"t":"nope"}')).toContain('"nope"');
    expect((decodeFrame(JSON.stringify({ t: 'x'.repeat(500) })) as string).length).toBeLessThan(80);
  });
});

describe('decodeFrame: hostile nesting', () => {
  // 4,000 levels, as sent by an attacker in 8,006 bytes; 100,000 to leave no doubt about the stack.
  const nested = (open: string, close: string, depth: number, inner = '1') =>
    open.repeat(depth) + inner + close.repeat(depth);
  it.each([
    ['an array 4,000 deep in t', `{"t":${nested('[', ']', 4000)}}`, 'frame has no string "t"'],
    ['an array 100,000 deep in t', `{"t":${nested('[', ']', 100_000)}}`, 'frame has no string "t"'],
    ['an object 100,000 deep in t', `{"t":${nested('{"a":', '}', 100_000)}}`, 'frame has no string "t"'],
    [
      'an array deep in a typed field',
      `{"t":"ack","a":${nested('[', ']', 100_000)}}`,
      'ack frame has a missing or bad "a"',
    ],
    [
      'an object deep in a typed field',
      `{"t":"close","code":1000,"reason":${nested('{"r":', '}', 100_000)}}`,
      'close frame has a missing or bad "reason"',
    ],
    ['a top-level array 100,000 deep', nested('[', ']', 100_000), 'frame is not a JSON object'],
    [
      't as an array holding a type name, which a property lookup turns into that name',
      '{"t":["msg"],"s":1,"d":[1]}',
      'frame has no string "t"',
    ],
  ])('%s: a reason, no exception', (_name, text, reason) => {
    expect(decodeFrame(text)).toBe(reason);
  });

  it("payloads may nest deeply: they are the application's, delivered as they came", () => {
    const f = decodeFrame(`{"t":"msg","s":1,"d":[${nested('[', ']', 100_000)}]}`);
    expect(typeof f).toBe('object');
  });
});

describe('encodeMessages', () => {
  const payloads = [{ a: 1 }, 'héllo', [1, 2], null, 3.5];
  const json = payloads.map((p) => JSON.stringify(p));

  it('round-trips through decodeFrame without ack', () => {
    const text = encodeMessages(5, json);
    const f = decodeFrame(text);
    expect(f).toEqual({ t: 'msg', s: 5, d: payloads });
    expect(f).not.toHaveProperty('a');
  });

  it('round-trips through decodeFrame with ack (including ack 0)', () => {
    expect(decodeFrame(encodeMessages(1, json, 9))).toEqual({ t: 'msg', s: 1, d: payloads, a: 9 });
    expect(decodeFrame(encodeMessages(1, ['"x"'], 0))).toEqual({ t: 'msg', s: 1, d: ['x'], a: 0 });
  });

  it('produces the same text as JSON.stringify of the frame', () => {
    expect(encodeMessages(2, json, 1)).toBe(JSON.stringify({ t: 'msg', s: 2, d: payloads, a: 1 }));
  });
});

describe('packFrames', () => {
  const items = (json: string[], from = 1) => json.map((j, i) => ({ seq: from + i, json: j, bytes: utf8Length(j) }));
  const pack = (...args: Parameters<typeof packFrames>) => [...packFrames(...args)];

  it('fills each frame while it, envelope and commas included, stays within max; every message once, in order', () => {
    const json = ['"aaaa"', '"bb"', '"cccccc"', '"d"', '"eeeeeeeeee"'];
    const frame = (from: number, n: number) => encodeMessages(7 + from, json.slice(from, from + n), 3).length;
    for (let max = 30; max < frame(0, 5) + 5; max++) {
      const frames = pack(items(json, 7), max, 3);
      const decoded = frames.map((f) => decodeFrame(f.text) as { s: number; d: unknown[]; a: number });
      expect(decoded.flatMap((f) => f.d)).toEqual(json.map((j): unknown => JSON.parse(j)));
      let at = 0;
      for (const [k, f] of decoded.entries()) {
        expect(f).toMatchObject({ t: 'msg', s: 7 + at, a: 3 });
        expect(frames[k]!.last).toBe(7 + at + f.d.length - 1);
        // Within max, unless it is a lone message too large for any frame; and the next message would not have fit.
        if (f.d.length > 1) expect(frames[k]!.text.length).toBeLessThanOrEqual(max);
        if (at + f.d.length < json.length) expect(frame(at, f.d.length + 1)).toBeGreaterThan(max);
        at += f.d.length;
      }
    }
  });

  it('counts the digits of s and a, and a frame without a', () => {
    const size = encodeMessages(123456, ['1'], 99999).length;
    expect(pack(items(['1', '1'], 123456), size, 99999).map((f) => f.last)).toEqual([123456, 123457]);
    expect(pack(items(['1', '1'], 123456), size).map((f) => f.last)).toEqual([123457]);
  });

  it('counts bytes of UTF-8, not UTF-16 units', () => {
    const json = ['"é"', '"é"']; // 4 bytes each, 3 characters
    const oneFrame = encodeMessages(1, json, 0);
    expect(pack(items(json), oneFrame.length, 0)).toHaveLength(2);
    expect(pack(items(json), utf8Length(oneFrame), 0)).toEqual([{ text: oneFrame, last: 2 }]);
  });

  it('always takes the first message, and yields nothing when there is none', () => {
    expect(pack(items(['"' + 'x'.repeat(100) + '"']), 10, 0)).toHaveLength(1);
    expect(pack([], 10, 0)).toEqual([]);
  });

  it('builds frames as they are taken: a writer that stops after one has encoded no more', () => {
    let read = 0;
    const many = Array.from({ length: 1000 }, (_, i) => ({
      seq: i + 1,
      bytes: 102,
      get json() {
        read++;
        return '"' + 'x'.repeat(100) + '"';
      },
    }));
    const frames = packFrames(many, 300, 0);
    expect(frames.next().value).toMatchObject({ last: 2 });
    expect(read).toBe(2);
  });
});

describe('utf8Length', () => {
  it.each([
    ['empty', ''],
    ['ASCII', 'hello, world {"t":1}'],
    ['2-byte (é, ß, Ω)', 'éßΩ'],
    ['3-byte (CJK, €)', '日本語€'],
    ['emoji (surrogate pairs)', '😀🎉👍🏽'],
    ['mixed', 'a é 日 😀 z\u007f\u0080\u07ff\u0800\uffff'],
    ['boundary code points', '\u007f\u0080\u07ff\u0800\ud7ff\ue000\uffff\u{10000}\u{10ffff}'],
  ])('%s equals Buffer.byteLength', (_name, s) => {
    expect(utf8Length(s)).toBe(Buffer.byteLength(s, 'utf8'));
  });
});

describe('isRetryableClose', () => {
  it.each([
    [CloseCode.NORMAL, false],
    [CloseCode.GOING_AWAY, true],
    [CloseCode.ABNORMAL, true],
    [1011, true],
    [CloseCode.PROTOCOL_ERROR, false],
    [CloseCode.UNAUTHORIZED, true],
    [CloseCode.FORBIDDEN, false],
    [CloseCode.UNSUPPORTED_VERSION, false],
    [CloseCode.TIMEOUT, true],
    [CloseCode.TOO_LARGE, false],
    [CloseCode.RATE_LIMITED, true],
    [CloseCode.SERVER_ERROR, true],
    [4000, false],
    [4499, false],
    [4999, true],
    [3000, true],
  ])('close %i → retryable %s', (code, retry) => {
    expect(isRetryableClose(code)).toBe(retry);
  });
});
