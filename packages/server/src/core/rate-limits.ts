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

/** The server's rate limits over the RateLimiter port; each check throws RATE_LIMITED. */
export class RateLimits {
  readonly #limiters: Record<RateLimitName, RateLimiter> | null;

  /** `rules: null` turns every limit off (benchmarks only). */
  constructor(store: RateLimiterStore, rules: RateLimitRules | null) {
    this.#limiters = rules
      ? (Object.fromEntries(RATE_LIMIT_NAMES.map((name) => [name, store.limiter(name, rules[name])])) as Record<
          RateLimitName,
          RateLimiter
        >)
      : null;
  }

  /** For the transport, which closes the socket itself rather than answering a call. */
  async connection(networkKey: string): Promise<RateLimitDecision> {
    return (await this.#limiters?.connectionsPerNetwork.consume(networkKey)) ?? { allowed: true, remaining: Infinity };
  }

  powChallenge(networkKey: string): Promise<void> {
    return this.#take('powChallengesPerNetwork', networkKey, 'proof-of-work challenges from your network');
  }

  registration(networkKey: string): Promise<void> {
    return this.#take('registerPerNetwork', networkKey, 'new accounts from your network');
  }

  /**
   * Runs a login attempt under the failed-login limits: refused up front while the
   * username or the network is locked out; a failure counts against both; a success
   * clears the username's count (not the network's: one good login must not launder a
   * network's guessing).
   */
  async login<T>(usernameKey: string, networkKey: string, attempt: () => Promise<T>): Promise<T> {
    const l = this.#limiters;
    if (!l) return attempt();
    for (const decision of [await l.loginFailuresPerUsername.peek(usernameKey), await l.loginFailuresPerNetwork.peek(networkKey)]) {
      if (!decision.allowed) throw refuse(decision, 'failed sign-ins');
    }
    try {
      const result = await attempt();
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

  async #take(name: RateLimitName, key: string, what: string): Promise<void> {
    const decision = await this.#limiters?.[name].consume(key);
    if (decision && !decision.allowed) throw refuse(decision, what);
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
