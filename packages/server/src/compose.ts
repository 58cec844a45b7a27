import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { altchaProofOfWork } from './adapters/pow/altcha.js';
import { PrometheusMetrics } from './adapters/metrics/prometheus.js';
import { join, resolve } from 'node:path';
import { ConfigError, type Config } from './config.js';
import { createCore, type Core } from './core/app.js';
import { LocalBus } from './adapters/bus/local-bus.js';
import { argon2Hasher } from './adapters/crypto/argon2-hasher.js';
import { cryptoRandom } from './adapters/crypto/crypto-random.js';
import { MemoryStorage } from './adapters/storage/memory/index.js';
import type { Bus } from './ports/bus.js';
import { systemClock, type Clock } from './ports/clock.js';
import type { Storage } from './ports/storage.js';
import { MemoryMatcher } from './adapters/matcher/memory-matcher.js';
import type { Matcher } from './ports/matcher.js';
import type { Logger } from './logger.js';
import { MemoryRateLimiterStore } from './adapters/rate-limiter/memory-rate-limiter.js';
import type { RateLimiterStore } from './ports/rate-limiter.js';
import type { ModerationOptions } from './core/moderation.js';
import type { RateLimitRules } from './core/rate-limits.js';

export function sqliteFile(config: Pick<Config, 'OMECHAT_DATA_DIR'>): string {
  return join(resolve(config.OMECHAT_DATA_DIR), 'omechat.sqlite');
}

// Adapters that load a driver (pg, ioredis, better-sqlite3) are imported only when configured,
// so a server on memory storage, and every test that starts one, never loads them.
export async function createStorage(config: Config, log?: Logger, metrics?: PrometheusMetrics): Promise<Storage> {
  if (config.OMECHAT_STORAGE === 'memory') return new MemoryStorage();
  if (config.OMECHAT_STORAGE === 'postgres') {
    const { PostgresStorage } = await import('./adapters/storage/postgres/index.js');
    // loadConfig already refuses this; a Config built by hand may not have been through it.
    const url = config.OMECHAT_DATABASE_URL;
    if (url === undefined) throw new ConfigError('OMECHAT_DATABASE_URL is required when OMECHAT_STORAGE=postgres');
    return PostgresStorage.open({
      url,
      onIdleError: (failure) => log?.warn({ failure }, 'an idle PostgreSQL connection failed; the pool replaces it'),
    });
  }
  const { SqliteStorage } = await import('./adapters/storage/sqlite/index.js');
  mkdirSync(resolve(config.OMECHAT_DATA_DIR), { recursive: true });
  const storage = new SqliteStorage({
    file: sqliteFile(config),
    ackBeforeFsync: config.OMECHAT_SQLITE_ACK === 'before-fsync',
    onCheckpointError: (err) => log?.warn({ err }, 'an SQLite checkpoint failed; the next one tries again'),
  });
  metrics?.addFigures(() => storage.figures());
  return storage;
}

/** Unlike the rate limiter store, an unreachable Redis bus stops the start: other processes would never hear this one. */
export async function createBus(config: Config, log?: Logger): Promise<Bus> {
  if (config.OMECHAT_BUS === 'local') return new LocalBus();
  const { RedisBus } = await import('./adapters/bus/redis-bus.js');
  return RedisBus.open({
    url: config.OMECHAT_REDIS_URL,
    prefix: config.OMECHAT_REDIS_PREFIX,
    onError: (err) => log?.warn({ err }, 'bus message dropped'),
  });
}

/**
 * Builds the core from configuration: the adapters chosen by config, wired to the domain.
 * Async because PostgreSQL and Redis are connected (and the schema migrated) before the core
 * exists, so a server that cannot reach them fails at start, not on its first request.
 */
export async function createCoreFromConfig(config: Config, log?: Logger, clock: Clock = systemClock): Promise<Core> {
  const metrics = new PrometheusMetrics();
  const storage = await createStorage(config, log, metrics);
  let bus: Bus;
  try {
    bus = await createBus(config, log);
  } catch (err) {
    await storage.close();
    throw err;
  }
  return createCore(
    {
    storage,
    hasher: argon2Hasher(
      { memoryCost: config.OMECHAT_ARGON2_MEMORY_KIB, timeCost: config.OMECHAT_ARGON2_TIME_COST, parallelism: 1 },
      { concurrency: config.OMECHAT_ARGON2_CONCURRENCY, queue: config.OMECHAT_ARGON2_QUEUE },
    ),
    random: cryptoRandom,
    clock,
    bus,
    matcher: await createMatcher(config, clock),
    rateLimiters: await createRateLimiterStore(config, log),
    proofOfWork: altchaProofOfWork(config.OMECHAT_POW_KEY ?? randomBytes(32).toString('hex')),
    metrics,
    },
    {
      historyCacheBytes: config.OMECHAT_HISTORY_CACHE_BYTES,
      retentionMs: config.OMECHAT_RETENTION_DAYS * 24 * 3600 * 1000,
      reportRetentionMs: config.OMECHAT_REPORT_RETENTION_DAYS * 24 * 3600 * 1000,
      ticketTtlMs: config.OMECHAT_MATCH_TICKET_TTL_MS,
      rematchAfterMs: config.OMECHAT_MATCH_REMATCH_AFTER_MS,
      tickMs: 1000,
      onBackgroundError: (err) => log?.error({ err }, 'background work failed'),
      moderation: moderationOptions(config),
      rateLimits: rateLimitRules(config),
      secretChecksInFlightPerNetwork: config.OMECHAT_SECRET_CHECKS_IN_FLIGHT_PER_NETWORK,
      historyPageBytes: config.OMECHAT_HISTORY_PAGE_BYTES,
      registrationPow: {
        difficulty: config.OMECHAT_POW_DIFFICULTY,
        ttlMs: config.OMECHAT_POW_TTL_SECONDS * 1000,
        hotPerNetwork: config.OMECHAT_POW_HOT_PER_NETWORK,
        hotOverall: config.OMECHAT_POW_HOT_OVERALL,
        hotFactor: config.OMECHAT_POW_HOT_FACTOR,
      },
    },
  );
}

/** In process, or in Redis so that users on different nodes are paired with each other. */
export async function createMatcher(config: Config, clock: Clock = systemClock): Promise<Matcher> {
  const options = { interestRelaxAfterMs: config.OMECHAT_MATCH_INTEREST_RELAX_MS, now: () => clock.now() };
  if (config.OMECHAT_MATCHER === 'memory') return new MemoryMatcher(options);
  const { RedisMatcher } = await import('./adapters/matcher/redis-matcher.js');
  return new RedisMatcher({ ...options, url: config.OMECHAT_REDIS_URL, prefix: config.OMECHAT_REDIS_PREFIX });
}

export async function createRateLimiterStore(config: Config, log?: Logger): Promise<RateLimiterStore> {
  if (config.OMECHAT_RATE_LIMIT_STORE !== 'redis') return new MemoryRateLimiterStore();
  const { RedisRateLimiterStore } = await import('./adapters/rate-limiter/redis-rate-limiter.js');
  const store = new RedisRateLimiterStore({
    url: config.OMECHAT_REDIS_URL,
    prefix: `${config.OMECHAT_REDIS_PREFIX}:rl`,
    memoryFallback: config.OMECHAT_RATE_LIMIT_REDIS_DOWN === 'local',
  });
  // Not fatal: limits count per process, or refuse, until Redis answers (OMECHAT_RATE_LIMIT_REDIS_DOWN).
  store.ping().catch((err: unknown) => log?.warn({ err }, 'Redis for rate limits is unreachable'));
  return store;
}

export function rateLimitRules(config: Config): RateLimitRules | null {
  if (config.OMECHAT_RATE_LIMIT_STORE === 'off') return null;
  return {
    registerPerNetwork: config.OMECHAT_RATE_REGISTER_PER_NETWORK,
    loginFailuresPerUsername: config.OMECHAT_RATE_LOGIN_FAILURES_PER_USERNAME,
    loginFailuresPerNetwork: config.OMECHAT_RATE_LOGIN_FAILURES_PER_NETWORK,
    messagesBurst: config.OMECHAT_RATE_MESSAGES_BURST,
    messagesSustained: config.OMECHAT_RATE_MESSAGES_SUSTAINED,
    matchStarts: config.OMECHAT_RATE_MATCH_STARTS,
    connectionsPerNetwork: config.OMECHAT_RATE_CONNECTIONS_PER_NETWORK,
    adminFailuresPerNetwork: config.OMECHAT_RATE_ADMIN_FAILURES_PER_NETWORK,
    powChallengesPerNetwork: config.OMECHAT_RATE_POW_CHALLENGES_PER_NETWORK,
    reportsPerUser: config.OMECHAT_RATE_REPORTS_PER_USER,
    secretChecksPerNetwork: config.OMECHAT_RATE_SECRET_CHECKS_PER_NETWORK,
    messageBytesPerUser: config.OMECHAT_RATE_MESSAGE_BYTES_PER_USER,
    messageBytesPerChat: config.OMECHAT_RATE_MESSAGE_BYTES_PER_CHAT,
    typingPerDevice: config.OMECHAT_RATE_TYPING,
    readReceiptsPerDevice: config.OMECHAT_RATE_READ_RECEIPTS,
    blocksPerUser: config.OMECHAT_RATE_BLOCKS,
    bundlesPerDevice: config.OMECHAT_RATE_KEY_BUNDLES,
  };
}

export function moderationOptions(config: Config): ModerationOptions {
  return {
    adminToken: config.OMECHAT_ADMIN_TOKEN ?? null,
    escalation: {
      reporters: config.OMECHAT_REPORTS_TO_SUSPEND,
      windowMs: config.OMECHAT_REPORT_WINDOW_MS,
      suspensionMs: config.OMECHAT_SUSPENSION_MS,
      factor: config.OMECHAT_SUSPENSION_FACTOR,
      suspensionsBeforePermanent: config.OMECHAT_SUSPENSIONS_BEFORE_PERMANENT,
      minMessages: config.OMECHAT_REPORT_MIN_MESSAGES,
      minReporterAgeMs: config.OMECHAT_REPORT_MIN_REPORTER_AGE_MS,
      fullReporterAgeMs: config.OMECHAT_REPORT_FULL_REPORTER_AGE_MS,
    },
  };
}
