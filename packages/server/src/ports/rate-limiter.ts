/**
 * The RateLimiter port: counters of actions per key in fixed windows. Adapters live in
 * `src/adapters/rate-limiter/*` and each must pass the contract suite in
 * `src/adapters/rate-limiter/rate-limiter.contract.ts`. A store shared by several server
 * processes (Redis) makes a limit hold across all of them.
 */
export interface RateLimitRule {
  /** Actions allowed per window. */
  points: number;
  /** Window length; whole seconds, because shared stores expire keys in seconds. */
  windowMs: number;
  /**
   * Lockout: once a key goes over its limit it stays refused this long from then on
   * (whole seconds). 0: refused only until its window ends.
   */
  blockMs: number;
}

export type RateLimitDecision =
  | { allowed: true; remaining: number }
  | { allowed: false; retryAfterMs: number };

export interface RateLimiter {
  /**
   * Counts `points` actions for `key` and says whether they fit in its window. A refused
   * consume still counts, so a client that keeps hammering stays refused.
   */
  consume(key: string, points?: number): Promise<RateLimitDecision>;
  /** Whether `key` is over its limit (or locked out) now; counts nothing. */
  peek(key: string): Promise<RateLimitDecision>;
  /**
   * Gives back `points` counted for `key` in its window: the action turned out to be one the
   * limit is not about (a secret check with the right secret). A lockout stays.
   */
  refund(key: string, points?: number): Promise<void>;
  /** Forgets `key`'s count and any lockout. */
  reset(key: string): Promise<void>;
}

export interface RateLimiterStore {
  /**
   * A limiter for one kind of action. Limiters of different names never share counts, and
   * two processes asking for the same name and rule share them (in a shared store).
   */
  limiter(name: string, rule: RateLimitRule): RateLimiter;
  /** Releases connections; limiters reject afterwards. */
  close(): Promise<void>;
}

/** Adapters call this: a rule a shared store cannot represent must fail at start, not later. */
export function assertRateLimitRule(rule: RateLimitRule): void {
  const wholeSeconds = (ms: number) => Number.isInteger(ms) && ms % 1000 === 0;
  if (!Number.isInteger(rule.points) || rule.points < 1) throw new RangeError('rate limit points must be a positive integer');
  if (!wholeSeconds(rule.windowMs) || rule.windowMs < 1000) throw new RangeError('rate limit window must be whole seconds');
  if (!wholeSeconds(rule.blockMs) || rule.blockMs < 0) throw new RangeError('rate limit lockout must be whole seconds');
}
