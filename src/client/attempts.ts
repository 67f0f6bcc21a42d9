import { CloseCode } from '../protocol';
import type { Env } from './env';
import { RealtimeError } from './errors';
import { closeText, type LadderState, type Outcome } from './retry';

/**
 * What a run of attempts (from connect(), or from a lost connection) has been through, which
 * {@link decide} weighs and the 'connect-failed' error reports: failed attempts since the last
 * stable connection, refused tokens in a row, why each transport of the current attempt failed,
 * and when a connection last opened.
 */
export class AttemptRecord {
  #attempt = 0;
  #authFailures = 0;
  #failures: string[] = [];
  /** When this run's last connection opened; 0 while none has. */
  #openedAt = 0;
  #stableTimer: unknown;

  constructor(
    private readonly env: Env,
    private readonly resetAfter: number,
  ) {}

  /** A new run: nothing has failed or opened yet. */
  reset(): void {
    this.#attempt = this.#authFailures = this.#openedAt = 0;
    this.#failures = [];
  }

  /** A connection opened: its failures are forgiven, and the attempt count once it has stayed open `resetAfter`. */
  opened(): void {
    this.#failures = [];
    this.#authFailures = 0;
    this.env.clearTimeout(this.#stableTimer);
    this.#openedAt = this.env.now();
    this.#stableTimer = this.env.setTimeout(() => (this.#attempt = 0), this.resetAfter);
  }

  /** Whether the last connection opened less than `resetAfter` ago: dropped now, it never proved stable. */
  get recent(): boolean {
    return this.env.now() - this.#openedAt < this.resetAfter;
  }

  /**
   * Records a connection or attempt that ended with `o`, on `transport`: a transport that failed
   * to open says why in the next 'connect-failed' error (a refused token has its own error).
   */
  ended(o: Outcome, transport: string, open: boolean): void {
    if (o.code === CloseCode.UNAUTHORIZED) this.#authFailures++;
    else if (o.fallback !== undefined && !open) this.#failures.push(`${transport}: ${closeText(o.code, o.reason)}`);
  }

  /** The part of decide()'s state this record holds. */
  get state(): Pick<LadderState, 'attempt' | 'authFailures' | 'everOpened'> {
    return { attempt: this.#attempt, authFailures: this.#authFailures, everOpened: this.#openedAt > 0 };
  }

  /** The attempt failed on every transport: the error saying why each did (none if none failed to open), and a clean slate for the next. */
  failedToConnect(closeCode: number): RealtimeError | undefined {
    const failures = this.#failures;
    this.#failures = [];
    if (failures.length)
      return new RealtimeError('connect-failed', `Could not connect (${failures.join('; ')}); retrying`, { closeCode });
  }

  /** One more attempt is to come after a backoff: its number. */
  next(): number {
    return ++this.#attempt;
  }

  /** The connection is gone: the attempt count stays as it is. */
  stop(): void {
    this.env.clearTimeout(this.#stableTimer);
  }
}
