import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../testing/services.js';
import { rateLimiterContract } from './rate-limiter.contract.js';
import { RedisRateLimiterStore } from './redis-rate-limiter.js';

// .ci/run starts Redis; an unreachable one fails the suite rather than skipping it.
const url = process.env.OMECHAT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

rateLimiterContract('redis', async () => {
  const store = new RedisRateLimiterStore({ url, prefix: 'omechat-test:rl', memoryFallback: false });
  try {
    await store.ping();
  } catch (err) {
    await store.close();
    throw new Error(`Redis at ${url} is unreachable (set OMECHAT_TEST_REDIS_URL): ${String(err)}`, { cause: err });
  }
  return store;
});

describe('RedisRateLimiterStore while Redis is down', () => {
  let own: RedisServer;
  beforeAll(async () => {
    own = await startRedisServer();
  });
  afterAll(async () => {
    await own.stop();
  });
  const rule = { points: 2, windowMs: 60_000, blockMs: 0 };
  /** ioredis reconnects with backoff: asks until the store answers. */
  const reachable = async (store: RedisRateLimiterStore) => {
    const deadline = Date.now() + 20_000;
    while (!(await store.ping().then(() => true, () => false))) if (Date.now() > deadline) throw new Error('Redis did not come back');
  };

  it('counts in process when set to fall back (local), fails closed with UNAVAILABLE otherwise, and uses Redis again once it is back', async () => {
    const local = new RedisRateLimiterStore({ url: own.url, prefix: 'test:local', memoryFallback: true });
    const closed = new RedisRateLimiterStore({ url: own.url, prefix: 'test:closed', memoryFallback: false });
    try {
      await Promise.all([local.ping(), closed.ping()]);
      const [l, c] = [local.limiter('calls', rule), closed.limiter('calls', rule)];
      expect(await c.consume('k')).toEqual({ allowed: true, remaining: 1 });

      await own.stop();
      // In process: the limit still holds on this node.
      expect(await l.consume('k')).toEqual({ allowed: true, remaining: 1 });
      expect(await l.consume('k')).toEqual({ allowed: true, remaining: 0 });
      expect(await l.consume('k')).toMatchObject({ allowed: false });
      await expect(c.consume('k')).rejects.toMatchObject({ code: 'UNAVAILABLE' });

      await own.start();
      for (const store of [local, closed]) await reachable(store);
      // Redis restarted empty: counts begin again there.
      expect(await c.consume('k')).toEqual({ allowed: true, remaining: 1 });
      expect(await l.consume('k')).toEqual({ allowed: true, remaining: 1 });
    } finally {
      await Promise.all([local.close(), closed.close()]);
    }
  }, 30_000);
});
