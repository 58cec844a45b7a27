import type { Bus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Matcher } from '../ports/matcher.js';
import type { Random } from '../ports/random.js';
import type { SecretHasher } from '../ports/secret-hasher.js';
import type { Storage } from '../ports/storage.js';
import { Accounts } from './accounts.js';
import { Chats } from './chats.js';
import { EventHub } from './event-hub.js';
import { Keys } from './keys.js';
import type { EventStreamDeps } from './event-stream.js';
import { Matchmaking } from './matchmaking.js';
import { MessageCache } from './message-cache.js';
import type { RateLimiterStore } from '../ports/rate-limiter.js';
import { Moderation, type ModerationOptions } from './moderation.js';
import { RateLimits, type RateLimitRules } from './rate-limits.js';
import { RegistrationPow, type RegistrationPowOptions } from './registration-pow.js';
import type { ProofOfWork } from '../ports/proof-of-work.js';
import type { Metrics } from '../ports/metrics.js';

export interface CoreDeps {
  storage: Storage;
  hasher: SecretHasher;
  random: Random;
  clock: Clock;
  bus: Bus;
  matcher: Matcher;
  rateLimiters: RateLimiterStore;
  proofOfWork: ProofOfWork;
  metrics: Metrics;
}

export interface CoreOptions {
  historyCacheBytes: number;
  retentionMs: number;
  /** How long reports against a deleted account are kept after its deletion. */
  reportRetentionMs: number;
  ticketTtlMs: number;
  /** OMECHAT_MATCH_REMATCH_AFTER_MS: see Matchmaking. */
  rematchAfterMs?: number;
  /** How often background work (matching sweep, ticket expiry) runs; 0 disables it. */
  tickMs: number;
  /** Told when background runs start failing (once until one succeeds); the next run tries again. */
  onBackgroundError?: (err: unknown) => void;
  moderation: ModerationOptions;
  /** null turns every rate limit off (benchmarks only). */
  rateLimits: RateLimitRules | null;
  /** Secret checks (argon2) one network may have running or waiting at once (default 4). */
  secretChecksInFlightPerNetwork?: number;
  /** A chat.history page stops at this many bytes of envelopes (default 1 MiB). */
  historyPageBytes?: number;
  registrationPow: RegistrationPowOptions;
}

/** The domain engine: every service the transports call, wired to its ports. */
export interface Core {
  deps: CoreDeps;
  accounts: Accounts;
  chats: Chats;
  matchmaking: Matchmaking;
  keys: Keys;
  moderation: Moderation;
  rateLimits: RateLimits;
  registrationPow: RegistrationPow;
  cache: MessageCache;
  streamDeps: EventStreamDeps;
  /** Purges messages older than the retention period, as of `now`. */
  purgeExpired(now?: number): Promise<{ messages: number; events: number; reports: number }>;
  metrics(): Record<string, number>;
  /** Stops background work and closes the ports, storage last. */
  close(): Promise<void>;
}

export function createCore(deps: CoreDeps, options: CoreOptions): Core {
  const { storage, bus, clock } = deps;
  const events = new EventHub(storage, bus);
  const cache = new MessageCache(storage, options.historyCacheBytes);
  const accounts = new Accounts({ ...deps, events });
  const chats = new Chats({ storage, random: deps.random, clock, events, cache }, options.historyPageBytes);
  const matchmaking = new Matchmaking(
    { storage, matcher: deps.matcher, random: deps.random, clock, events, chats, metrics: deps.metrics },
    { ticketTtlMs: options.ticketTtlMs, rematchAfterMs: options.rematchAfterMs },
  );
  accounts.onBeforeDelete(async (userHash) => {
    await matchmaking.cancel(userHash);
    await chats.endAllOf(userHash, 'deleted');
  });
  const rateLimits = new RateLimits(deps.rateLimiters, options.rateLimits, { inFlightPerNetwork: options.secretChecksInFlightPerNetwork ?? 4 });
  const moderation = new Moderation({ storage, clock, bus, chats, matchmaking, rateLimits, metrics: deps.metrics }, options.moderation);
  // A device on a banned account: refused once the secret checks out, before a device exists.
  accounts.addLoginGuard((userHash) => moderation.assertNotBanned({ userHash }));

  const purgeExpired = async (now = clock.now()) => {
    const purged = await storage.streams.purgeOlderThan(now - options.retentionMs);
    if (purged.messages > 0) cache.clear();
    const reports = await storage.moderation.purgeReportsOfDeletedUsers(now - options.reportRetentionMs);
    return { ...purged, reports };
  };

  // Background work; each run is awaited before the next is scheduled, so runs never overlap.
  let timer: NodeJS.Timeout | undefined;
  let lastPurge = 0;
  let failing = false;
  const schedule = () => {
    if (options.tickMs <= 0) return;
    timer = setTimeout(() => {
      void (async () => {
        try {
          await matchmaking.tick();
          if (clock.now() - lastPurge > 3600_000) {
            lastPurge = clock.now();
            await purgeExpired();
          }
          failing = false;
        } catch (err) {
          // Once per outage, not once per tick: a Redis or database outage would flood the log.
          if (timer && !failing) options.onBackgroundError?.(err);
          failing = true;
        }
        if (timer) schedule();
      })();
    }, options.tickMs);
    timer.unref();
  };
  schedule();

  return {
    deps,
    accounts,
    chats,
    matchmaking,
    keys: new Keys(storage, (a, b) => moderation.blockedEitherWay(a, b)),
    moderation,
    rateLimits,
    registrationPow: new RegistrationPow(deps.proofOfWork, deps.rateLimiters, clock, options.registrationPow),
    cache,
    streamDeps: { storage, events, chats },
    purgeExpired,
    metrics: () => ({
      history_cache_hits: cache.hits,
      history_cache_misses: cache.misses,
      history_cache_hit_rate: cache.hitRate,
      history_cache_bytes: cache.bytes,
    }),
    async close() {
      clearTimeout(timer);
      timer = undefined;
      await deps.matcher.close();
      moderation.close();
      await chats.flushReceipts();
      await deps.rateLimiters.close();
      events.close();
      await bus.close();
      await storage.close();
    },
  };
}
