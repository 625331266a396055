/**
 * Token bucket per socket: `burst` events at once, refilled at `perSecond`. ICE trickling sends
 * a burst of candidates right after a join, so a bucket (not a fixed window) lets that through
 * while still bounding a flooding client.
 */
export interface RateLimit {
  readonly burst: number;
  readonly perSecond: number;
}

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = limit.burst;
    this.last = now();
  }

  /** Take one token; false when the bucket is empty (the event must be refused). */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.limit.burst, this.tokens + ((t - this.last) / 1000) * this.limit.perSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
