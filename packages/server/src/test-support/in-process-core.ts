import type { ChatId, ClientHash, OmeEvent, UserHash } from '@omechat/protocol';
import { LocalBus } from '../adapters/bus/local-bus.js';
import { argon2Hasher } from '../adapters/crypto/argon2-hasher.js';
import { cryptoRandom } from '../adapters/crypto/crypto-random.js';
import { MemoryMatcher } from '../adapters/matcher/memory-matcher.js';
import { altchaProofOfWork } from '../adapters/pow/altcha.js';
import { MemoryRateLimiterStore } from '../adapters/rate-limiter/memory-rate-limiter.js';
import { MemoryStorage } from '../adapters/storage/memory/index.js';
import type { BusMessage } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import { noMetrics } from '../ports/metrics.js';
import type { Session } from '../core/accounts.js';
import { createCore, type Core } from '../core/app.js';
import type { EscalationOptions } from '../core/moderation.js';

export const DAY = 86_400_000;

/** The DomainError code a call fails with ('resolved' if it does not fail). */
export const codeOf = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'resolved',
    (err: unknown) => (err as { code?: string }).code ?? `no code: ${String(err)}`,
  );

/** Time that moves only when a test moves it. */
export class TestClock implements Clock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface InProcessCoreOptions {
  escalation?: Partial<EscalationOptions>;
  /** OMECHAT_MATCH_REMATCH_AFTER_MS. */
  rematchAfterMs?: number;
}

/**
 * The whole core in this process, on memory adapters and a test clock, with no transport: the
 * services' own rules, tested in milliseconds. Secrets go through argon2id with the smallest
 * cost it accepts, so secret checks are real. Background work is off (`tickMs: 0`): tests call
 * `matchmaking.tick()` and `flushReceipts()` themselves.
 */
export function startInProcessCore(options: InProcessCoreOptions = {}) {
  const clock = new TestClock();
  const storage = new MemoryStorage({ clock });
  const bus = new LocalBus();
  const published: BusMessage[] = [];
  bus.subscribe((message) => published.push(message));
  const core: Core = createCore(
    {
      storage,
      hasher: argon2Hasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 }),
      random: cryptoRandom,
      clock,
      bus,
      matcher: new MemoryMatcher({ interestRelaxAfterMs: 0, now: () => clock.now() }),
      rateLimiters: new MemoryRateLimiterStore(),
      proofOfWork: altchaProofOfWork('k'.repeat(32)),
      metrics: noMetrics,
    },
    {
      historyCacheBytes: 1 << 20,
      retentionMs: 30 * DAY,
      reportRetentionMs: 90 * DAY,
      ticketTtlMs: 60_000,
      rematchAfterMs: options.rematchAfterMs ?? 0,
      tickMs: 0,
      moderation: {
        adminToken: null,
        escalation: {
          reporters: 3,
          windowMs: DAY,
          suspensionMs: DAY,
          factor: 4,
          suspensionsBeforePermanent: 3,
          minMessages: 0,
          minReporterAgeMs: 0,
          fullReporterAgeMs: 0,
          ...options.escalation,
        },
      },
      rateLimits: null,
      registrationPow: {
        difficulty: 0,
        ttlMs: 60_000,
        hotPerNetwork: { points: 1, windowMs: 1000, blockMs: 0 },
        hotOverall: { points: 1, windowMs: 1000, blockMs: 0 },
        hotFactor: 1,
      },
    },
  );

  let users = 0;
  /** Registers an account and logs one device in, as a client would. */
  const register = async (age = 30, name = `user${++users}`) => {
    const { userHash, secret } = await core.accounts.register({ username: name, age });
    const { clientHash, accessToken } = await core.accounts.login({ username: name, secret });
    const session: Session = { userHash, clientHash };
    return { name, secret, accessToken, session, userHash };
  };

  /** Both start matching (arriving second); the chat the matcher opened, or null if none. */
  const match = async (a: Session, b: Session, tolerance = 5): Promise<ChatId | null> => {
    await core.matchmaking.start(a, { tolerance });
    return (await core.matchmaking.start(b, { tolerance })).chatId;
  };

  /** The protocol events stored in a user's stream (messages left out), oldest first. */
  const events = async (userHash: UserHash): Promise<OmeEvent[]> =>
    (await storage.streams.readStream(userHash, 0, 1000)).flatMap((e) => ('type' in e ? [JSON.parse(e.payload) as OmeEvent] : []));

  const envelope = (to: ClientHash) => ({ v: 1 as const, parts: [{ to, header: 'aA', ciphertext: 'aA' }] });
  let messages = 0;
  const send = (from: Session, to: Session, chatId: ChatId) =>
    core.chats.send(from, { chatId, envelope: envelope(to.clientHash), clientMessageId: `m${++messages}` });

  return { core, storage, clock, bus, published, register, match, events, send };
}
export type InProcessCore = ReturnType<typeof startInProcessCore>;
