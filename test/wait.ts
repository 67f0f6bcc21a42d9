// Waiting for a condition (polled), never for a fixed time: the one helper every test uses, unit,
// integration, services and browser alike, so that every wait reads the same way and fails the same way.

export interface WaitOptions {
  /** What is awaited, for the failure message ("timed out after 15000 ms waiting for <what>"). */
  what: string;
  /** Milliseconds before giving up. @default 15_000 */
  timeout?: number;
  /** Milliseconds between two polls. @default 5 */
  every?: number;
  /**
   * Whether a `condition` that throws counts as "not yet" instead of failing at once: for probes of
   * a service that is still starting (connection refused). The last error is in the failure message.
   * @default false
   */
  retryErrors?: boolean;
}

/**
 * Resolves with the first truthy value of `condition()` (awaited when it returns a promise), polled
 * every `every` ms; rejects saying `what` was awaited once `timeout` ms have passed.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, options: WaitOptions): Promise<NonNullable<T>> {
  const { what, timeout = 15_000, every = 5, retryErrors = false } = options;
  const end = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value;
    } catch (err) {
      if (!retryErrors) throw err;
      lastError = err;
    }
    if (Date.now() > end) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${why}`);
    }
    await delay(every);
  }
}

/** A pause for a fixed time: only where time itself is what a test is about, never to wait for a condition. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
