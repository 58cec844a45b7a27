import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RateLimiterStore, RateLimitRule } from '../../ports/rate-limiter.js';

/**
 * The behaviour every RateLimiter adapter owes the core. Run it from each adapter's test:
 * `rateLimiterContract('memory', () => new MemoryRateLimiterStore())`. Windows are real
 * time (stores count whole seconds), so a few cases wait about a second.
 */
export function rateLimiterContract(name: string, make: () => Promise<RateLimiterStore> | RateLimiterStore): void {
  describe(`RateLimiter contract: ${name}`, () => {
    let store: RateLimiterStore;
    let closedByTest = false;
    // Names unique per run, so a shared store (Redis) holds no counts from earlier runs.
    const run = randomBytes(6).toString('hex');
    let n = 0;
    const limiter = (rule: Partial<RateLimitRule> = {}) =>
      store.limiter(`contract-${run}-${++n}`, { points: 3, windowMs: 1000, blockMs: 0, ...rule });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    beforeEach(async () => {
      closedByTest = false;
      store = await make();
    });
    afterEach(async () => {
      if (!closedByTest) await store.close();
    });

    it('allows `points` actions per window, then refuses with the time left', async () => {
      const l = limiter({ points: 3, windowMs: 2000 });
      const remaining = [];
      for (let i = 0; i < 3; i++) {
        const d = await l.consume('k');
        expect(d.allowed).toBe(true);
        if (d.allowed) remaining.push(d.remaining);
      }
      expect(remaining).toEqual([2, 1, 0]);
      const refused = await l.consume('k');
      expect(refused.allowed).toBe(false);
      if (!refused.allowed) {
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(2000);
      }
    });

    it('counts several points at once', async () => {
      const l = limiter({ points: 5 });
      expect(await l.consume('k', 4)).toEqual({ allowed: true, remaining: 1 });
      expect((await l.consume('k', 2)).allowed).toBe(false);
    });

    it('keeps keys and limiters apart', async () => {
      const a = limiter({ points: 1 });
      const b = limiter({ points: 1 });
      expect((await a.consume('x')).allowed).toBe(true);
      expect((await a.consume('x')).allowed).toBe(false);
      expect((await a.consume('y')).allowed).toBe(true);
      expect((await b.consume('x')).allowed).toBe(true);
    });

    it('allows again once the window has passed', async () => {
      const l = limiter({ points: 1, windowMs: 1000 });
      await l.consume('k');
      expect((await l.consume('k')).allowed).toBe(false);
      await sleep(1100);
      expect((await l.consume('k')).allowed).toBe(true);
    });

    it('locks a key out for blockMs after it goes over, beyond its window', async () => {
      // A lockout far longer than the wait, so a slow machine cannot see it end early.
      const l = limiter({ points: 1, windowMs: 1000, blockMs: 60_000 });
      await l.consume('k');
      const over = await l.consume('k');
      expect(over.allowed).toBe(false);
      if (!over.allowed) expect(over.retryAfterMs).toBeGreaterThan(50_000);
      await sleep(1100);
      const still = await l.peek('k');
      expect(still.allowed).toBe(false);
      if (!still.allowed) expect(still.retryAfterMs).toBeGreaterThan(1000);
    });

    it('peeks without counting and tells a key over its limit', async () => {
      const l = limiter({ points: 2 });
      expect(await l.peek('k')).toEqual({ allowed: true, remaining: 2 });
      expect(await l.peek('k')).toEqual({ allowed: true, remaining: 2 });
      await l.consume('k');
      expect(await l.peek('k')).toEqual({ allowed: true, remaining: 1 });
      await l.consume('k');
      // At the limit, not over it: the last allowed action was taken, nothing refused yet.
      expect((await l.peek('k')).allowed).toBe(true);
      await l.consume('k');
      const over = await l.peek('k');
      expect(over.allowed).toBe(false);
      if (!over.allowed) expect(over.retryAfterMs).toBeGreaterThan(0);
    });

    it('gives points back on refund, within the window', async () => {
      const l = limiter({ points: 2 });
      await l.consume('k');
      await l.consume('k');
      expect(await l.peek('k')).toEqual({ allowed: true, remaining: 0 });
      await l.refund('k');
      expect(await l.consume('k')).toEqual({ allowed: true, remaining: 0 });
      expect((await l.consume('k')).allowed).toBe(false);
    });

    it('forgets a key on reset, lockout included', async () => {
      const l = limiter({ points: 1, blockMs: 5000 });
      await l.consume('k');
      await l.consume('k');
      expect((await l.peek('k')).allowed).toBe(false);
      await l.reset('k');
      expect(await l.peek('k')).toEqual({ allowed: true, remaining: 1 });
      expect((await l.consume('k')).allowed).toBe(true);
      await l.reset('never-seen');
    });

    it('refuses a rule a shared store cannot hold', () => {
      expect(() => limiter({ windowMs: 1500 })).toThrow(RangeError);
      expect(() => limiter({ points: 0 })).toThrow(RangeError);
      expect(() => limiter({ blockMs: 10 })).toThrow(RangeError);
    });

    it('rejects calls after close', async () => {
      const l = limiter();
      closedByTest = true;
      await store.close();
      await expect(l.consume('k')).rejects.toThrow(Error);
      await expect(l.peek('k')).rejects.toThrow(Error);
    });
  });
}
