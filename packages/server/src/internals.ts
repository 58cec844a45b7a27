/**
 * The pieces the benchmarks (bench/) measure one at a time, for this repository only
 * (@omechat/server/internals): no stability promised. Loads every driver.
 */
export type { MessageRecord, Storage } from './ports/storage.js';
export { assertMatchTicket, type MatchPair, type MatchTicket } from './ports/matcher.js';
export { MessageCache } from './core/message-cache.js';
export { hashToken } from './core/tokens.js';
export { argon2Hasher } from './adapters/crypto/argon2-hasher.js';
export { cryptoRandom } from './adapters/crypto/crypto-random.js';
export { MemoryMatcher } from './adapters/matcher/memory-matcher.js';
export { RedisMatcher } from './adapters/matcher/redis-matcher.js';
export { altchaProofOfWork, POW_ALGORITHM, POW_ITERATIONS } from './adapters/pow/altcha.js';
export { MemoryRateLimiterStore } from './adapters/rate-limiter/memory-rate-limiter.js';
export { PostgresStorage } from './adapters/storage/postgres/index.js';
export { SqliteStorage } from './adapters/storage/sqlite/index.js';
export { sqliteFile } from './compose.js';
