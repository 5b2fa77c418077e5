// A token bucket per client (an API key's principal, or the address of a client without a valid key).
//
// Hand-written rather than @fastify/rate-limit because the order of checks matters here: the key must be
// verified before the limit is applied (the limit belongs to the key, not to whatever a client claims), and
// the limit must apply before a 401 is answered (so a flood of bad keys is limited by address). With the
// plugin that takes three hooks in a fixed order; here it is one Map lookup and a few arithmetic operations
// inside the access-control hook (src/http/access-control.ts).
//
// Each bucket holds up to `perMinute` tokens and refills continuously at perMinute / 60 s; a request takes
// one. So a client may send `perMinute` requests in any one minute on average, and one idle for a minute
// may spend them at once.

// The defaults (RATE_LIMIT_PER_MINUTE_DEFAULT, AUTH_FAILURES_PER_MINUTE_DEFAULT) and the bound on buckets: src/domain/limits.ts.
import { RATE_LIMIT_BUCKETS_MAX } from '../domain/limits.js';

interface Bucket {
  tokens: number;
  atMs: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly tokensPerMs: number;

  constructor(private readonly perMinute: number, private readonly now: () => number = Date.now) {
    if (!Number.isInteger(perMinute) || perMinute < 1) throw new Error(`perMinute must be a positive integer, got ${perMinute}`);
    this.tokensPerMs = perMinute / 60_000;
  }

  /** Takes a token for `client`: 0 when it had one, else the whole seconds until it will (for Retry-After). */
  take(client: string): number {
    const nowMs = this.now();
    let bucket = this.buckets.get(client);
    if (bucket === undefined) {
      if (this.buckets.size >= RATE_LIMIT_BUCKETS_MAX) this.evict(nowMs);
      bucket = { tokens: this.perMinute, atMs: nowMs };
      this.buckets.set(client, bucket);
    } else {
      bucket.tokens = Math.min(this.perMinute, bucket.tokens + (nowMs - bucket.atMs) * this.tokensPerMs);
      bucket.atMs = nowMs;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.tokensPerMs / 1_000));
  }

  /** Returns a token `take` took (it turned out not to count), up to the bucket's size. */
  giveBack(client: string): void {
    const bucket = this.buckets.get(client);
    if (bucket !== undefined) bucket.tokens = Math.min(this.perMinute, bucket.tokens + 1);
  }

  private evict(nowMs: number): void {
    // A full bucket is the same as no bucket: dropping it forgets nothing.
    for (const [client, bucket] of this.buckets) {
      if (bucket.tokens + (nowMs - bucket.atMs) * this.tokensPerMs >= this.perMinute) this.buckets.delete(client);
    }
    if (this.buckets.size >= RATE_LIMIT_BUCKETS_MAX) this.buckets.delete(this.buckets.keys().next().value!);
  }
}
