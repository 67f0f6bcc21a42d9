/**
 * The listeners of `on()`, kept apart from the EventTarget's: they are called with the event's
 * detail directly, without an event object. A `CustomEvent` allocated and dispatched per message
 * was most of a page's time when a backlog arrived (77 % of its busy time over WebSocket, a
 * quarter over SSE); the client still dispatches one for the types someone listens to with
 * `addEventListener`.
 */
export class Listeners {
  readonly #byType = new Map<string, Set<(detail: unknown) => void>>();

  /** Adds a listener of `type`; returns the function that removes it (safe to call twice). */
  add(type: string, listener: (detail: never) => void): () => void {
    let listeners = this.#byType.get(type);
    if (!listeners) this.#byType.set(type, (listeners = new Set()));
    // An entry of its own: the same function added twice is two subscriptions, each removed by its own call.
    const entry = (detail: unknown) => listener(detail as never);
    listeners.add(entry);
    return () => listeners.delete(entry);
  }

  /**
   * Calls the listeners of `type` as an EventTarget would: in the order they were added; one
   * added meanwhile not for this event, one removed meanwhile no more; and one that throws does
   * not stop the others (its error is thrown again in a microtask, so the page reports it as
   * uncaught).
   */
  emit(type: string, detail: unknown): void {
    const listeners = this.#byType.get(type);
    if (!listeners?.size) return;
    for (const listener of [...listeners]) {
      if (!listeners.has(listener)) continue;
      try {
        listener(detail);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
