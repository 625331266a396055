/**
 * Calls `fn` on every listener. A listener that throws must not stop delivery to the others or
 * break the caller's own state machine, so its error is rethrown on a fresh microtask, where it
 * still surfaces as an uncaught error.
 */
export function notifyEach<L>(listeners: ReadonlySet<L>, fn: (listener: L) => void): void {
  for (const l of [...listeners]) {
    try {
      fn(l);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}
