import type { RealtimeError } from './errors';
import type { ConnectionState } from './state';

/** Every event a client emits, with what `on()` passes its listener (a CustomEvent's `detail`). */
export interface RealtimeEventMap {
  open: { transport: string; resumed: boolean };
  message: unknown;
  state: { from: ConnectionState; to: ConnectionState };
  reconnecting: { attempt: number; delay: number };
  close: { code: number; reason: string; willReconnect: boolean };
  error: RealtimeError;
  transport: { from: string | null; to: string };
}

/** Emits one event of the client. */
export type Emit = <K extends keyof RealtimeEventMap>(type: K, detail: RealtimeEventMap[K]) => void;
