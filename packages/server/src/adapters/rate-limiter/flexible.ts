import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RateLimitDecision, RateLimiter, RateLimitRule } from '../../ports/rate-limiter.js';

/** The options every rate-limiter-flexible limiter takes, from a port rule. */
export function flexibleOptions(keyPrefix: string, rule: RateLimitRule) {
  return { keyPrefix, points: rule.points, duration: rule.windowMs / 1000, blockDuration: rule.blockMs / 1000 };
}

/**
 * Adapts one rate-limiter-flexible limiter (any store) to the port. The library rejects an
 * over-limit consume with a RateLimiterRes and a store failure with an Error; only the
 * first is a refusal, the second must surface.
 */
export function flexibleLimiter(limiter: RateLimiterAbstract, points: number, isClosed: () => boolean): RateLimiter {
  const assertOpen = () => {
    if (isClosed()) throw new Error('rate limiter store is closed');
  };
  const refused = (res: RateLimiterRes): RateLimitDecision => ({ allowed: false, retryAfterMs: Math.max(1, res.msBeforeNext) });
  return {
    async consume(key, count = 1) {
      assertOpen();
      try {
        const res = await limiter.consume(key, count);
        return { allowed: true, remaining: res.remainingPoints };
      } catch (err) {
        if (err instanceof RateLimiterRes) return refused(err);
        throw err;
      }
    },
    async peek(key) {
      assertOpen();
      const res = await limiter.get(key);
      // The memory store may hand back a record whose window ended a moment ago.
      if (!res || res.msBeforeNext === 0 || (res.msBeforeNext < 0 && res.msBeforeNext !== -1)) {
        return { allowed: true, remaining: points };
      }
      if (res.consumedPoints > points) return refused(res);
      return { allowed: true, remaining: Math.max(0, points - res.consumedPoints) };
    },
    async refund(key, count = 1) {
      assertOpen();
      await limiter.reward(key, count);
    },
    async reset(key) {
      assertOpen();
      await limiter.delete(key);
    },
  };
}
