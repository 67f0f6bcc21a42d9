/** Frames as the kit sees them: whatever JSON the server sent, checked by the cases, not trusted. */

export type AnyFrame = { t: string; [field: string]: unknown };

export const PROTOCOL_VERSION = 1;

/** A minimal hello for protocol v1; `extra` adds or overrides fields. */
export function hello(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { t: 'hello', v: [PROTOCOL_VERSION], a: 0, ...extra };
}

/** One frame as wire bytes: objects are serialised, strings (deliberately bad frames) and bytes go as they are. */
export function frameBytes(frame: object | string | Buffer): Buffer {
  if (Buffer.isBuffer(frame)) return frame;
  return Buffer.from(typeof frame === 'string' ? frame : JSON.stringify(frame), 'utf8');
}

/** UTF-8 length of a frame's text, the unit of every size limit (§2). */
export function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Parses one received frame; a text that is not a JSON object with a string `t` yields null. */
export function parseFrame(text: string): AnyFrame | null {
  try {
    const value: unknown = JSON.parse(text);
    if (
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      typeof (value as AnyFrame).t === 'string'
    )
      return value as AnyFrame;
  } catch {
    // not JSON
  }
  return null;
}

/** Whether `s` is base64url without padding carrying at least `bits` bits (§5, §14.1). */
export function isBase64UrlWithBits(s: unknown, bits: number): boolean {
  return typeof s === 'string' && /^[A-Za-z0-9_-]+$/.test(s) && Math.floor((s.length * 6) / 8) * 8 >= bits;
}

/** The application messages of msg frames, as [seq, data] pairs in the order received. */
export function messagesOf(frames: readonly AnyFrame[]): Array<[number, unknown]> {
  const out: Array<[number, unknown]> = [];
  for (const f of frames) {
    const s = f.s;
    if (f.t === 'msg' && typeof s === 'number' && Number.isSafeInteger(s) && Array.isArray(f.d))
      f.d.forEach((d: unknown, i: number) => out.push([s + i, d]));
  }
  return out;
}
