// Waiting for a condition (polled), never for a fixed time.

/** Resolves with the first truthy value of `cond()` (polled every `everyMs`); rejects with `what` after `ms`. */
export async function until<T>(cond: () => T | Promise<T>, what: string, ms = 10_000, everyMs = 10): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      // A probe that throws (connection refused while a service starts) counts as "not yet".
      lastError = err;
    }
    if (Date.now() > end) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${ms} ms waiting for ${what}${why}`);
    }
    await delay(everyMs);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
