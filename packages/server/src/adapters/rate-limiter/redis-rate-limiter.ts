import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { assertRateLimitRule, type RateLimiter, type RateLimiterStore, type RateLimitRule } from '../../ports/rate-limiter.js';
import { DomainError } from '../../core/domain-error.js';
import { flexibleLimiter, flexibleOptions } from './flexible.js';

export interface RedisRateLimiterStoreOptions {
  url: string;
  /** Prefixes every key, so several deployments (or test runs) can share one Redis. */
  prefix?: string;
  /**
   * While Redis is unreachable, count in this process (limits then hold per process only).
   * Off: every call fails with UNAVAILABLE until Redis answers (fail closed).
   */
  memoryFallback?: boolean;
}

/** Counts in Redis, so a limit holds across every server process that shares it. */
export class RedisRateLimiterStore implements RateLimiterStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #fallback: boolean;
  /** Settles once Redis first answers, or after a second: until then calls wait for it. */
  readonly #started: Promise<void>;
  #closed = false;

  constructor(options: RedisRateLimiterStoreOptions) {
    // One retry per command: a limit check must answer quickly, not queue behind an outage.
    this.#redis = new Redis(options.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
    this.#redis.on('error', () => undefined); // surfaced per command; the client reconnects itself
    this.#prefix = options.prefix ?? 'omechat:rl';
    this.#fallback = options.memoryFallback ?? true;
    // At start-up a call waits briefly for the connection rather than falling back at once,
    // or the first counts of every process would stay local. Later, in an outage, calls
    // fall back immediately (rejectIfRedisNotReady) instead of queueing.
    this.#started = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      timer.unref();
      this.#redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Resolves once Redis answers; rejects with the connection error otherwise. */
  async ping(): Promise<void> {
    if (this.#redis.status !== 'ready') {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('Redis did not become ready within 2 s')), 2000);
        this.#redis.once('ready', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await this.#redis.ping();
  }

  limiter(name: string, rule: RateLimitRule): RateLimiter {
    assertRateLimitRule(rule);
    const options = flexibleOptions(`${this.#prefix}:${name}`, rule);
    const limiter = new RateLimiterRedis({
      ...options,
      storeClient: this.#redis,
      rejectIfRedisNotReady: true,
      insuranceLimiter: this.#fallback ? new RateLimiterMemory(options) : undefined,
    });
    const inner = flexibleLimiter(limiter, rule.points, () => this.#closed);
    const started = this.#started;
    // Without the fallback, a Redis that cannot answer refuses the call with a typed error.
    const call = async <R>(fn: () => Promise<R>): Promise<R> => {
      await started;
      try {
        return await fn();
      } catch (err) {
        if (this.#closed) throw err; // flexibleLimiter throws only store failures; over-limit is a decision
        throw new DomainError('UNAVAILABLE', 'Rate limits cannot be checked right now; try again shortly');
      }
    };
    return {
      consume: (key, points) => call(() => inner.consume(key, points)),
      peek: (key) => call(() => inner.peek(key)),
      refund: (key, points) => call(() => inner.refund(key, points)),
      reset: (key) => call(() => inner.reset(key)),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}
