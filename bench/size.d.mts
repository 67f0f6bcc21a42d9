/** Types of what test/size.test.ts imports from bench/size.mjs. */

/** A string that only code of the non-WebSocket transports (or eventsource-parser) contains. */
export interface Marker {
  what: string;
  re: RegExp;
}

export const MARKERS: Marker[];
