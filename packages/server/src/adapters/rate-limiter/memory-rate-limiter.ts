import { assertRateLimitRule, type RateLimitDecision, type RateLimiter, type RateLimiterStore, type RateLimitRule } from '../../ports/rate-limiter.js';

/**
 * Counts in this process only: right for one server, or as Redis's fallback. Four limits
 * count every message sent, so a count is a plain object in a Map: no timer per key, no
 * promise beyond the one the port returns (rate-limiter-flexible's memory store allocated a
 * promise, a result and two Dates per call, and a timer per key per window).
 */
export class MemoryRateLimiterStore implements RateLimiterStore {
  #closed = false;

  limiter(name: string, rule: RateLimitRule): RateLimiter {
    assertRateLimitRule(rule);
    return new MemoryLimiter(rule, () => this.#closed);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** One key's count in its window; a lockout keeps the count until it ends. */
interface Count {
  used: number;
  endsAt: number;
  lockedUntil: number;
}

class MemoryLimiter implements RateLimiter {
  readonly #counts = new Map<string, Count>();
  #sweptAt = Date.now();

  constructor(
    private readonly rule: RateLimitRule,
    private readonly isClosed: () => boolean,
  ) {}

  consume(key: string, points = 1): Promise<RateLimitDecision> {
    if (this.isClosed()) return closed();
    const now = Date.now();
    let count = this.#live(key, now);
    if (!count) this.#counts.set(key, (count = { used: 0, endsAt: now + this.rule.windowMs, lockedUntil: 0 }));
    count.used += points;
    if (count.lockedUntil <= now && count.used <= this.rule.points) {
      return Promise.resolve({ allowed: true, remaining: this.rule.points - count.used });
    }
    if (this.rule.blockMs > 0 && count.lockedUntil <= now) {
      count.lockedUntil = now + this.rule.blockMs;
      count.endsAt = Math.max(count.endsAt, count.lockedUntil);
    }
    return Promise.resolve(refused(count, now));
  }

  peek(key: string): Promise<RateLimitDecision> {
    if (this.isClosed()) return closed();
    const now = Date.now();
    const count = this.#live(key, now);
    if (count && (count.lockedUntil > now || count.used > this.rule.points)) return Promise.resolve(refused(count, now));
    return Promise.resolve({ allowed: true, remaining: this.rule.points - (count?.used ?? 0) });
  }

  async refund(key: string, points = 1): Promise<void> {
    if (this.isClosed()) return closed();
    const count = this.#live(key, Date.now());
    if (count) count.used = Math.max(0, count.used - points);
  }

  async reset(key: string): Promise<void> {
    if (this.isClosed()) return closed();
    this.#counts.delete(key);
  }

  /** The key's count if its window (or lockout) has not ended; counts that ended are dropped once a window. */
  #live(key: string, now: number): Count | undefined {
    const count = this.#counts.get(key);
    if (count && count.endsAt > now) return count;
    if (count) this.#counts.delete(key);
    if (now - this.#sweptAt >= this.rule.windowMs) {
      this.#sweptAt = now;
      for (const [k, c] of this.#counts) if (c.endsAt <= now) this.#counts.delete(k);
    }
    return undefined;
  }
}

const refused = (count: Count, now: number): RateLimitDecision => ({
  allowed: false,
  retryAfterMs: Math.max(1, (count.lockedUntil > now ? count.lockedUntil : count.endsAt) - now),
});

const closed = () => Promise.reject(new Error('rate limiter store is closed'));
