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

interface BackoffOptions {
  /** The first wait after a failure; each further one doubles, up to maxMs. */
  minMs: number;
  maxMs: number;
  /** Hears every failure that is retried. */
  onFailure: (error: unknown) => void;
  /** A failure this says yes to is thrown at once instead of retried. */
  isFatal?: (error: unknown) => boolean;
}

/**
 * Calls `fn` until it resolves, waiting between failures with exponential backoff: true once it resolved,
 * false when the signal aborted first (checked before every call).
 */
export async function retryWithBackoff(signal: AbortSignal, fn: () => Promise<void>, options: BackoffOptions): Promise<boolean> {
  let delayMs = options.minMs;
  for (;;) {
    if (signal.aborted) return false;
    try {
      await fn();
      return true;
    } catch (error) {
      if (options.isFatal?.(error)) throw error;
      options.onFailure(error);
      await abortableSleep(delayMs, signal);
      delayMs = Math.min(delayMs * 2, options.maxMs);
    }
  }
}
