import { RateLimiterMemory } from 'rate-limiter-flexible';
import { assertRateLimitRule, type RateLimiter, type RateLimiterStore, type RateLimitRule } from '../../ports/rate-limiter.js';
import { flexibleLimiter, flexibleOptions } from './flexible.js';

/** Counts in this process only: right for one server, or as Redis's fallback. */
export class MemoryRateLimiterStore implements RateLimiterStore {
  #closed = false;

  limiter(name: string, rule: RateLimitRule): RateLimiter {
    assertRateLimitRule(rule);
    return flexibleLimiter(new RateLimiterMemory(flexibleOptions(name, rule)), rule.points, () => this.#closed);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
