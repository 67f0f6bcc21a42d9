/**
 * A session's life in this process: one state, changed only through {@link SessionLifetime.apply},
 * and the expiry that runs exactly while the session waits for its client to resume it.
 */

/**
 * Where a session is in this process: held by a link here (`'attached'`), waiting `sessionTtl` ms
 * for a resume (`'detached'`; also a session held by a link on another process of a cluster), or
 * over for good (`'ended'`).
 */
export type SessionPhase = 'attached' | 'detached' | 'ended';

/** What happened: a link took the session, its link went, or it ended. */
export type PhaseEvent = 'attach' | 'detach' | 'end';

/** One change of {@link SessionPhase}, as the session's `'state'` event gives it. */
export interface PhaseChange {
  readonly from: SessionPhase;
  readonly to: SessionPhase;
}

/** The transition table. Returns the next phase, or the same one when the event changes nothing. */
export function nextPhase(from: SessionPhase, event: PhaseEvent): SessionPhase {
  if (from === 'ended') return from; // nothing brings a session back
  switch (event) {
    case 'attach':
      return 'attached';
    case 'detach':
      return 'detached';
    case 'end':
      return 'ended';
  }
}

export class SessionLifetime {
  #phase: SessionPhase = 'detached';
  #expiry: ReturnType<typeof setTimeout> | undefined;
  #expiresAt = 0;

  /**
   * `ttl`: how long a detached session waits for a resume; `expired` runs when it has waited
   * that long; `changed` hears every change of phase.
   */
  constructor(
    private readonly ttl: number,
    private readonly expired: () => void,
    private readonly changed: (change: PhaseChange) => void,
  ) {}

  get phase(): SessionPhase {
    return this.#phase;
  }

  /** When the latest expiry runs out (Date.now() based), for the session's state to expire then too. */
  get expiresAt(): number {
    return this.#expiresAt;
  }

  /** The one place the phase changes. Leaving 'detached' stops the expiry; entering it starts one. */
  apply(event: PhaseEvent): void {
    const from = this.#phase;
    const to = nextPhase(from, event);
    if (to === from) return;
    this.#phase = to;
    if (to === 'detached') this.startExpiry();
    else this.stopExpiry();
    this.changed({ from, to });
  }

  /**
   * (Re)starts the wait of a detached session: a session restored after a restart, or one whose
   * state an attach renewed before it failed. Returns when it runs out (as {@link expiresAt}).
   */
  startExpiry(): number {
    this.stopExpiry();
    this.#expiry = setTimeout(() => {
      this.#expiry = undefined;
      this.expired();
    }, this.ttl);
    // A server with only detached sessions left must not be kept alive by them.
    this.#expiry.unref?.();
    this.#expiresAt = Date.now() + this.ttl;
    return this.#expiresAt;
  }

  private stopExpiry(): void {
    if (this.#expiry !== undefined) clearTimeout(this.#expiry);
    this.#expiry = undefined;
  }
}
