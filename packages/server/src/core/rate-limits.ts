import type { ClientHash, UserHash } from '@omechat/protocol';
import type { RateLimitDecision, RateLimiter, RateLimiterStore, RateLimitRule } from '../ports/rate-limiter.js';
import { DomainError } from './domain-error.js';

/**
 * Every rate limit the server enforces, by name. Sizes come from config (see
 * docs/safety.md, "Rate limits"); keys are network keys, usernames, devices or users,
 * never raw addresses.
 */
export const RATE_LIMIT_NAMES = [
  /** New accounts per network. */
  'registerPerNetwork',
  /** Failed logins per username; going over locks the username out. */
  'loginFailuresPerUsername',
  /** Failed logins per network; going over locks the network out of logging in. */
  'loginFailuresPerNetwork',
  /** Messages per device, short window: the burst a person can type. */
  'messagesBurst',
  /** Messages per device, long window: the rate they can keep up. */
  'messagesSustained',
  /** match.start calls per device. */
  'matchStarts',
  /** Proof-of-work challenges per network: each costs the server a key derivation to issue. */
  'powChallengesPerNetwork',
  /** Wrong admin tokens per network; going over locks the network out of the admin API. */
  'adminFailuresPerNetwork',
  /** New WebSocket connections per network. */
  'connectionsPerNetwork',
  /** Reports per user. */
  'reportsPerUser',
  /** Secret checks (login, account.delete, account.rotateSecret) per network, counted before argon2 runs. */
  'secretChecksPerNetwork',
  /** Stored message bytes per user (points are bytes of envelope JSON). */
  'messageBytesPerUser',
  /** Stored message bytes per chat. */
  'messageBytesPerChat',
  // issue 15: chatter and safety
  /** chat.typing per device: each call is relayed to the peer. */
  'typingPerDevice',
  /** message.markRead per device: each one that moves the cursor is a write and an event for both users. */
  'readReceiptsPerDevice',
  /** safety.block and safety.unblock together, per user: each ends chats and tells every process. */
  'blocksPerUser',
  /** keys.bundles per device and addressed user: each call uses up one of every addressed device's one-time prekeys. */
  'bundlesPerDevice',
] as const;
export type RateLimitName = (typeof RATE_LIMIT_NAMES)[number];
export type RateLimitRules = Record<RateLimitName, RateLimitRule>;

const refuse = (decision: Extract<RateLimitDecision, { allowed: false }>, what: string) =>
  new DomainError('RATE_LIMITED', `Too many ${what}; try again in ${Math.ceil(decision.retryAfterMs / 1000)} s`, {
    retryAfterMs: decision.retryAfterMs,
  });

/**
 * A limit keyed by network counts at every level of the caller's network keys (narrowest
 * first: IPv4 /24 or IPv6 /64, then /56 and /48), each wider level allowing this many times
 * more than the one inside it.
 */
export const WIDER_NETWORK_FACTOR = 4;

/** Secret checks (argon2) one network may have running or waiting at once, and the refusal's hint. */
export interface SecretCheckLimits {
  inFlightPerNetwork: number;
}

/** The server's rate limits over the RateLimiter port; each check throws RATE_LIMITED. */
export class RateLimits {
  readonly #limiters: Record<RateLimitName, RateLimiter> | null;
  /** Limiters of the wider network levels, made when first needed. */
  readonly #wider = new Map<string, RateLimiter>();
  /** Secret checks running or waiting, by network key: counted in this process, before any work. */
  readonly #secretChecks = new Map<string, number>();

  /** `rules: null` turns every limit off (benchmarks only). */
  constructor(
    private readonly store: RateLimiterStore,
    private readonly rules: RateLimitRules | null,
    private readonly secretCheckLimits: SecretCheckLimits = { inFlightPerNetwork: 4 },
  ) {
    this.#limiters = rules
      ? (Object.fromEntries(RATE_LIMIT_NAMES.map((name) => [name, store.limiter(name, rules[name])])) as Record<
          RateLimitName,
          RateLimiter
        >)
      : null;
  }

  /** For the transport, which closes the socket itself rather than answering a call. */
  async connection(networkKeys: readonly string[]): Promise<RateLimitDecision> {
    return (await this.#atEveryLevel('connectionsPerNetwork', networkKeys, 'consume')) ?? { allowed: true, remaining: Infinity };
  }

  powChallenge(networkKeys: readonly string[]): Promise<void> {
    return this.#takeNetwork('powChallengesPerNetwork', networkKeys, 'proof-of-work challenges from your network');
  }

  registration(networkKeys: readonly string[]): Promise<void> {
    return this.#takeNetwork('registerPerNetwork', networkKeys, 'new accounts from your network');
  }

  /**
   * Runs a check of an account's secret (argon2, the dearest thing a client can ask for)
   * only once it is counted: refused at once while the network has too many checks running
   * or waiting, or has used its checks for the window. A check with the right secret gives its
   * count back: the budget bounds guessing, not signing in. Callers that have lockouts of
   * their own (login) wrap this.
   */
  async secretCheck<T>(networkKeys: readonly string[], attempt: () => Promise<T>): Promise<T> {
    if (!this.#limiters) return attempt();
    const key = networkKeys[0]!;
    const running = this.#secretChecks.get(key) ?? 0;
    if (running >= this.secretCheckLimits.inFlightPerNetwork) {
      throw new DomainError('RATE_LIMITED', 'Too many sign-in checks at once from your network; try again in a second', { retryAfterMs: 1000 });
    }
    this.#secretChecks.set(key, running + 1);
    try {
      await this.#takeNetwork('secretChecksPerNetwork', networkKeys, 'sign-in checks from your network');
      const result = await attempt();
      // The right secret: the budget is for guesses, so this check does not count.
      for (const [level, networkKey] of networkKeys.entries()) await this.#level('secretChecksPerNetwork', level).refund(networkKey);
      return result;
    } finally {
      const left = (this.#secretChecks.get(key) ?? 1) - 1;
      if (left > 0) this.#secretChecks.set(key, left);
      else this.#secretChecks.delete(key);
    }
  }

  /** Stored bytes: a user's and a chat's daily budgets, counted before the message is stored. */
  async messageBytes(userHash: UserHash, chatId: string, bytes: number): Promise<void> {
    await this.#take('messageBytesPerUser', userHash, 'message bytes today', bytes);
    await this.#take('messageBytesPerChat', chatId, 'message bytes in this chat today', bytes);
  }

  /**
   * Runs a login attempt under the failed-login limits: refused up front while the
   * username or the network is locked out; a failure counts against both; a success
   * clears the username's count (not the network's: one good login must not launder a
   * network's guessing).
   */
  async login<T>(usernameKey: string, networkKeys: readonly string[], attempt: () => Promise<T>): Promise<T> {
    const l = this.#limiters;
    if (!l) return attempt();
    const networkKey = networkKeys[0]!;
    for (const decision of [await l.loginFailuresPerUsername.peek(usernameKey), await l.loginFailuresPerNetwork.peek(networkKey)]) {
      if (!decision.allowed) throw refuse(decision, 'failed sign-ins');
    }
    try {
      const result = await this.secretCheck(networkKeys, attempt);
      await l.loginFailuresPerUsername.reset(usernameKey);
      return result;
    } catch (err) {
      if (err instanceof DomainError && err.code === 'INVALID_CREDENTIALS') {
        const byName = await l.loginFailuresPerUsername.consume(usernameKey);
        const byNetwork = await l.loginFailuresPerNetwork.consume(networkKey);
        // This failure started a lockout: say so now rather than at the next attempt.
        if (!byName.allowed) throw refuse(byName, 'failed sign-ins');
        if (!byNetwork.allowed) throw refuse(byNetwork, 'failed sign-ins');
      }
      throw err;
    }
  }

  /**
   * Runs an admin-token check under the failed-attempt limit of the caller's network: refused
   * up front while the network is locked out, even with the right token; a wrong token
   * (UNAUTHORIZED) counts, and the one that goes over the limit calls `onLockout` and is
   * answered RATE_LIMITED at once.
   */
  async adminAttempt<T>(networkKey: string, attempt: () => Promise<T>, onLockout: (retryAfterMs: number) => Promise<void>): Promise<T> {
    const limiter = this.#limiters?.adminFailuresPerNetwork;
    if (!limiter) return attempt();
    const now = await limiter.peek(networkKey);
    if (!now.allowed) throw refuse(now, 'wrong admin tokens from your network');
    try {
      return await attempt();
    } catch (err) {
      if (err instanceof DomainError && err.code === 'UNAUTHORIZED') {
        const decision = await limiter.consume(networkKey);
        if (!decision.allowed) {
          await onLockout(decision.retryAfterMs);
          throw refuse(decision, 'wrong admin tokens from your network');
        }
      }
      throw err;
    }
  }

  async message(clientHash: ClientHash): Promise<void> {
    await this.#take('messagesBurst', clientHash, 'messages');
    await this.#take('messagesSustained', clientHash, 'messages');
  }

  matchStart(clientHash: ClientHash): Promise<void> {
    return this.#take('matchStarts', clientHash, 'match requests');
  }

  report(userHash: UserHash): Promise<void> {
    return this.#take('reportsPerUser', userHash, 'reports');
  }

  async #take(name: RateLimitName, key: string, what: string, points = 1): Promise<void> {
    const decision = await this.#limiters?.[name].consume(key, points);
    if (decision && !decision.allowed) throw refuse(decision, what);
  }

  async #takeNetwork(name: RateLimitName, networkKeys: readonly string[], what: string): Promise<void> {
    const decision = await this.#atEveryLevel(name, networkKeys, 'consume');
    if (decision && !decision.allowed) throw refuse(decision, what);
  }

  /** Counts (or peeks) at every level of the network keys; the first refusal, else the narrowest answer. */
  async #atEveryLevel(name: RateLimitName, networkKeys: readonly string[], op: 'consume' | 'peek'): Promise<RateLimitDecision | null> {
    if (!this.#limiters || !this.rules) return null;
    let first: RateLimitDecision | null = null;
    for (const [level, key] of networkKeys.entries()) {
      const decision = await this.#level(name, level)[op](key);
      if (!decision.allowed) return decision;
      first ??= decision;
    }
    return first;
  }

  #level(name: RateLimitName, level: number): RateLimiter {
    if (level === 0) return this.#limiters![name];
    const id = `${name}/${level}`;
    let limiter = this.#wider.get(id);
    if (!limiter) {
      const rule = this.rules![name];
      this.#wider.set(id, (limiter = this.store.limiter(id, { ...rule, points: rule.points * WIDER_NETWORK_FACTOR ** level })));
    }
    return limiter;
  }

  // issue 15: chatter and safety

  typing(clientHash: ClientHash): Promise<void> {
    return this.#take('typingPerDevice', clientHash, 'typing notices');
  }

  readReceipt(clientHash: ClientHash): Promise<void> {
    return this.#take('readReceiptsPerDevice', clientHash, 'read receipts');
  }

  block(userHash: UserHash): Promise<void> {
    return this.#take('blocksPerUser', userHash, 'blocks and unblocks');
  }

  /** Keyed by the pair: a device fetching its peer's keys is not held back by fetching its own. */
  bundles(clientHash: ClientHash, of: UserHash): Promise<void> {
    return this.#take('bundlesPerDevice', `${clientHash}>${of}`, 'key bundle requests');
  }
}
