import type { PowChallenge, RegistrationProof } from '@omechat/protocol';
import type { Clock } from '../ports/clock.js';
import type { ProofOfWork } from '../ports/proof-of-work.js';
import type { RateLimiter, RateLimiterStore, RateLimitRule } from '../ports/rate-limiter.js';
import { DomainError } from './domain-error.js';

export interface RegistrationPowOptions {
  /** Most attempts a solution needs while registrations are quiet; 0 turns the check off. */
  difficulty: number;
  /** How long a challenge may be solved for. */
  ttlMs: number;
  /** Registrations from one network, and overall, beyond which the difficulty rises... */
  hotPerNetwork: RateLimitRule;
  hotOverall: RateLimitRule;
  /** ...by this factor each (both hot: squared). */
  hotFactor: number;
}

/**
 * The proof-of-work an `account.register` must carry: the policy over the ProofOfWork port.
 * Challenges are signed and expire (the adapter); each solution registers at most one
 * account, remembered in the rate limiter store, so with Redis a solution spent on one
 * server process is refused by every other; and the difficulty rises while registrations
 * from the caller's network, or from everywhere, run hot. docs/safety.md has the policy.
 */
export class RegistrationPow {
  readonly #spent: RateLimiter;
  readonly #heatByNetwork: RateLimiter;
  readonly #heatOverall: RateLimiter;

  constructor(
    private readonly pow: ProofOfWork,
    store: RateLimiterStore,
    private readonly clock: Clock,
    private readonly options: RegistrationPowOptions,
  ) {
    const ttlSeconds = Math.max(1, Math.ceil(options.ttlMs / 1000));
    // One point per solution, kept a little longer than any challenge lives.
    this.#spent = store.limiter('powSpent', { points: 1, windowMs: (ttlSeconds + 60) * 1000, blockMs: 0 });
    this.#heatByNetwork = store.limiter('powHeatNetwork', options.hotPerNetwork);
    this.#heatOverall = store.limiter('powHeatOverall', options.hotOverall);
  }

  get enabled(): boolean {
    return this.options.difficulty > 0;
  }

  /** The attempts a challenge for this network (its keys, narrowest first) takes now. */
  async difficultyFor(networkKeys: readonly string[]): Promise<number> {
    const hot = async (limiter: RateLimiter, key: string) => {
      const d = await limiter.peek(key);
      return !d.allowed || d.remaining === 0;
    };
    let attempts = this.options.difficulty;
    // A network is hot when any of its levels is (a /48's heat is counted over all its /64s).
    let networkHot = false;
    for (const key of networkKeys) networkHot ||= await hot(this.#heatByNetwork, key);
    if (networkHot) attempts *= this.options.hotFactor;
    if (await hot(this.#heatOverall, 'all')) attempts *= this.options.hotFactor;
    return Math.min(attempts, 2 ** 31);
  }

  async challenge(networkKeys: readonly string[]): Promise<PowChallenge | null> {
    if (!this.enabled) return null;
    const networkKey = networkKeys[0]!;
    const attempts = await this.difficultyFor(networkKeys);
    return this.pow.issue({
      attempts,
      expiresAt: this.clock.now() + this.options.ttlMs,
      // Bound to the network it was priced for: a solution bought elsewhere does not fit.
      data: { max: attempts, net: netTag(networkKey) },
    });
  }

  /** Throws POW_REQUIRED, POW_INVALID, POW_EXPIRED or POW_REPLAYED; spends the solution. */
  async check(proof: RegistrationProof | undefined, networkKey: string): Promise<void> {
    if (!this.enabled) return;
    if (!proof) throw new DomainError('POW_REQUIRED', 'Registering needs a solved proof-of-work challenge (account.challenge)');
    const verdict = await this.pow.verify(proof.challenge, proof.solution);
    if (verdict === 'expired') throw new DomainError('POW_EXPIRED', 'The proof-of-work challenge expired; fetch a new one');
    if (verdict !== 'ok' || proof.challenge.parameters.data?.net !== netTag(networkKey)) {
      throw new DomainError('POW_INVALID', 'The proof-of-work solution does not solve a challenge this server gave your network');
    }
    const first = await this.#spent.consume(proof.challenge.signature);
    if (!first.allowed) throw new DomainError('POW_REPLAYED', 'This proof-of-work solution was already used');
  }

  /** Counts a registration towards the heat that raises the difficulty. */
  async registered(networkKeys: readonly string[]): Promise<void> {
    if (!this.enabled) return;
    for (const key of networkKeys) await this.#heatByNetwork.consume(key);
    await this.#heatOverall.consume('all');
  }
}

/** Enough of the network key to bind a challenge to it (the key itself is an HMAC). */
const netTag = (networkKey: string) => networkKey.slice(0, 16);
