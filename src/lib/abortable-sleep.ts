// Dependency-free helpers any layer may use (src/lib imports nothing from the rest of src).
/** Resolves after `ms`, or at once when the signal aborts (never rejects): pollers check the signal after. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
