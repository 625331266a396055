/**
 * A macrotask that runs as soon as the event loop has had its turn, for loops that must let
 * I/O, signals and UI events in between their steps without sleeping:
 * - Node: setImmediate (setTimeout(0) costs a whole millisecond there);
 * - browsers: a MessageChannel. Nested setTimeouts are clamped to 4 ms, and a hidden tab's
 *   timers are throttled to about one wake-up a second, which would cap a peer in a background
 *   tab at one round a second; messages are neither clamped nor throttled;
 * - elsewhere: setTimeout.
 */
export const macrotask: (fn: () => void) => void = (() => {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown };
  if (typeof g.setImmediate === 'function') {
    const setImmediate = g.setImmediate;
    return (fn) => void setImmediate(fn);
  }
  if (typeof MessageChannel === 'function') {
    const waiting: (() => void)[] = [];
    const channel = new MessageChannel();
    channel.port1.onmessage = () => waiting.shift()?.();
    // where ports keep a process alive (Node without setImmediate), this one must not
    (channel.port1 as { unref?: () => void }).unref?.();
    return (fn) => {
      waiting.push(fn);
      channel.port2.postMessage(null);
    };
  }
  return (fn) => void setTimeout(fn, 0);
})();

/** resolves on the next macrotask */
export const nextMacrotask = (): Promise<void> => new Promise((resolve) => macrotask(resolve));
