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
