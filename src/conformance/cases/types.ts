import type { Conn } from '../conn';
import type { Target } from '../target';
import type { HttpConn, TransportDriver } from '../transports/types';
import type { Peer } from '../peer';

/** RFC 2119 levels: a failed MUST is an error, a failed SHOULD a warning, a failed MAY a notice. */
export type Level = 'MUST' | 'SHOULD' | 'MAY';

/** What a case may need beyond a server speaking protocol v1. */
export type Need =
  /** The application of docs/conformance.md (echo, push, close on request). */
  | 'app'
  /** `--origin`: an origin the server allows, so the kit knows it has an allow-list. */
  | 'origin'
  /** `--token`: a token the server accepts, so the kit knows it authenticates. */
  | 'token';

export interface Case {
  /** Stable id, never reused: `V1-<AREA>-<NNN>`. */
  readonly id: string;
  readonly level: Level;
  /** The section of docs/protocol.md it checks, e.g. `§14.4`. */
  readonly section: string;
  /** One line: the rule, quoted or pointed to. */
  readonly title: string;
  readonly needs?: readonly Need[];
  /** The transports it applies to (all when absent). */
  readonly applies?: (driver: TransportDriver) => boolean;
  /** Longest the case may take, in ms before scaling (default 10000). */
  readonly timeout?: number;
  run(ctx: CaseContext): Promise<void>;
}

/** What a case gets to work with; everything it opens is closed by the runner afterwards. */
export interface CaseContext {
  readonly target: Target;
  readonly driver: TransportDriver;
  /** A wait of `base` ms, scaled by the target's `--timeout-scale`. */
  ms(base: number): number;
  /** A raw connection on this case's transport, no hello sent. */
  open(headers?: Record<string, string>): Promise<Conn & HttpConn>;
  /** A new session on this case's transport: hello sent, welcome checked. */
  connect(hello?: Record<string, unknown>): Promise<Peer>;
  /** Registers anything with a `cut()` for cleanup. */
  track<T extends { cut(): void }>(thing: T): T;
}
