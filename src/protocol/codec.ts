/**
 * Wire protocol v1: the frame codec shared by the client and the reference server.
 * docs/protocol.md is the normative description; this file must stay in step with it.
 */

export const PROTOCOL_VERSION = 1;

/** No frame limit (`max` in hello or welcome) may be lower: a welcome frame must fit. */
export const MIN_FRAME_LIMIT = 256;

export type TransportName = 'websocket' | 'sse' | 'fetch-stream' | 'long-poll';

/** Client → server, first frame on every connection. */
export interface HelloFrame {
  t: 'hello';
  /** Protocol versions the client speaks. */
  v: number[];
  /** Session to resume, with its secret key. */
  sid?: string;
  key?: string;
  /** Highest server sequence number received contiguously (0: none). */
  a: number;
  /** Largest frame the client accepts, in bytes of UTF-8 (>= 256); the server's frames to it fit both limits. Absent: only the server's. */
  max?: number;
  /** Credential from the `auth` option. Never put in a URL. */
  token?: string;
}

/** Server → client, first frame on every connection. */
export interface WelcomeFrame {
  t: 'welcome';
  v: number;
  sid: string;
  key: string;
  /** True when the requested session was resumed; false for a new session. */
  resumed: boolean;
  /** Highest client sequence number the server received contiguously. */
  a: number;
  /** Server ping interval in ms. */
  hb: number;
  /** Largest frame the server accepts, in bytes of UTF-8. */
  max: number;
  transports: TransportName[];
}

/** Data, in either direction: d[i] has sequence number s + i. */
export interface MessageFrame {
  t: 'msg';
  s: number;
  d: unknown[];
  a?: number;
}

export interface AckFrame {
  t: 'ack';
  a: number;
}

export interface PingFrame {
  t: 'ping';
  a?: number;
}

export interface PongFrame {
  t: 'pong';
  a?: number;
}

/** Sent before a deliberate close so HTTP transports, which have no close code, learn it too. */
export interface CloseFrame {
  t: 'close';
  code: number;
  reason: string;
}

export type Frame = HelloFrame | WelcomeFrame | MessageFrame | AckFrame | PingFrame | PongFrame | CloseFrame;

/** An integer >= 0 that JSON carries exactly. */
export const isNat = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;

/**
 * Each frame type's fields as `name:kind`, kind n = integer >= 0, s = string, b = boolean,
 * a = array, with a trailing ? when optional. One table keeps the client's validator small.
 */
const SHAPE_TEXT: Record<string, string> = {
  hello: 'v:a a:n sid:s? key:s? max:n? token:s?',
  welcome: 'v:n sid:s key:s resumed:b a:n hb:n max:n transports:a',
  msg: 's:n d:a a:n?',
  ack: 'a:n',
  ping: 'a:n?',
  pong: 'a:n?',
  close: 'code:n reason:s',
};

const KINDS: Record<string, (v: unknown) => boolean> = {
  n: isNat,
  s: (v) => typeof v === 'string',
  b: (v) => typeof v === 'boolean',
  a: Array.isArray,
};

interface Field {
  name: string;
  check: (v: unknown) => boolean;
  optional: boolean;
}

/** The table read once, so that decoding a frame splits no strings. */
const SHAPES: Record<string, Field[]> = {};
for (const [type, fields] of Object.entries(SHAPE_TEXT)) {
  SHAPES[type] = fields.split(' ').map((field) => {
    const [name, kind] = field.split(':') as [string, string];
    return { name, check: KINDS[kind[0]!]!, optional: kind[1] === '?' };
  });
}

/**
 * Parses and validates one frame. Returns a string describing the problem instead of throwing,
 * so callers on both sides turn bad input into a typed error or a 4400 close, never a crash.
 */
export function decodeFrame(text: string): Frame | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'frame is not valid JSON';
  }
  // Untrusted values are type-checked before any use, and never turned into strings or walked
  // into: JSON.parse builds values nested any depth, and converting `[[[…]]]` 4,000 deep to a
  // string (as a property lookup or JSON.stringify would) overflows the stack.
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'frame is not a JSON object';
  const f = parsed as Record<string, unknown>;
  if (typeof f.t !== 'string') return 'frame has no string "t"';
  const shape = SHAPES.hasOwnProperty(f.t) && SHAPES[f.t];
  if (!shape) return `unknown frame type ${JSON.stringify(f.t.slice(0, 40))}`;
  for (const { name, check, optional } of shape) {
    const v = f[name];
    if (v === undefined ? !optional : !check(v)) return `${f.t} frame has a missing or bad "${name}"`;
  }
  // Every field now has the kind its frame type declares.
  const frame = f as unknown as Frame;
  return frame.t === 'msg' && (frame.s < 1 || !frame.d.length) ? 'msg frame needs "s" >= 1 and a non-empty "d"' : frame;
}

/**
 * Builds a msg frame from payloads that are already JSON text, so each message is
 * serialised once (when sent) and a batch costs one string join.
 */
export function encodeMessages(seq: number, jsonPayloads: string[], ack?: number): string {
  return `{"t":"msg","s":${seq},"d":[${jsonPayloads.join(',')}]${ack === undefined ? '' : `,"a":${ack}`}}`;
}

/** A character outside ASCII: where a string's UTF-8 length differs from its length. */
const NON_ASCII = /[^\0-\x7f]/;

/** UTF-8 byte length without allocating, for size limits. */
export function utf8Length(s: string): number {
  // Most JSON is ASCII, and a regular expression scans natively: a fifth of the loop's time on
  // 1 KB messages, which every message sent or received pays.
  if (!NON_ASCII.test(s)) return s.length;
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // 2-byte chars add 1, 3-byte chars add 2, and each half of a 4-byte surrogate pair adds 1.
    if (c > 0x7f) n += c > 0x7ff && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return n;
}

/**
 * A close reason as it may travel: WebSocket limits them to 123 bytes of UTF-8, and a client
 * shows the server's in its events and errors, where a reason of any length would be hostile.
 */
export function truncateReason(reason: string): string {
  if (utf8Length(reason) <= 123) return reason;
  let out = reason.slice(0, 123);
  while (utf8Length(out) > 120) out = out.slice(0, -1);
  // Do not leave half a surrogate pair behind.
  if (/[\ud800-\udbff]$/.test(out)) out = out.slice(0, -1);
  return out + '...';
}
