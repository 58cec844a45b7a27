import { LIMITS, type UserHash } from '@omechat/protocol';

/**
 * The Matcher port: the waiting queue of strangers and the age-tolerance safety system
 * (ATSS). Adapters live in `src/adapters/matcher/*` and each must pass the contract suite
 * in `src/adapters/matcher/matcher.contract.ts`.
 *
 * Two tickets A and B may be paired only when all of these hold:
 * - they belong to different users, and neither is in the other's exclusion set;
 * - both are under `LIMITS.adultAge` or both are at least that age, whatever the tolerance;
 * - |A.age - B.age| <= min(A.tolerance, B.tolerance): tolerance is consent, so it is mutual;
 * - they share an interest, or neither has interests, or one of the two has waited at
 *   least `interestRelaxAfterMs` (interest matching is a preference that gives way to
 *   waiting too long, as on Omegle).
 *
 * Choice among allowed partners: tickets sharing an interest first, then the one that has
 * waited longest (by `enqueuedAt`, ties by insertion order), so nobody is starved.
 *
 * The matcher enforces these rules itself rather than trusting callers, because a wrong
 * pairing of a minor and an adult is the one failure this product cannot afford.
 */
export interface MatchTicket {
  userHash: UserHash;
  /** Integer, `LIMITS.ageMin`..`LIMITS.ageMax`; adapters reject anything else. */
  age: number;
  /** Integer, 0..`LIMITS.toleranceMax`: how many years older or younger the user accepts. */
  tolerance: number;
  /** Normalised (trimmed, lower-cased) interests, at most `LIMITS.maxInterests`. */
  interests: string[];
  enqueuedAt: number;
}

export interface MatchPair {
  /** The ticket that has been queued longer. */
  waiting: MatchTicket;
  arriving: MatchTicket;
  /** Interests both tickets hold, in the arriving ticket's order; empty if none. */
  sharedInterests: string[];
}

export interface MatcherOptions {
  /** How long a ticket waits for a shared interest before accepting any stranger. */
  interestRelaxAfterMs: number;
  /** Injectable so tests can make tickets relax without waiting. */
  now: () => number;
}

export interface Matcher {
  /**
   * Adds the user's ticket, replacing any ticket the user already has (one per user).
   * If an allowed partner waits, removes both and returns the pair; otherwise queues it.
   * `excluded`: users this user must never be paired with (blocks in either direction,
   * users already sharing an active chat with them), precomputed by the caller.
   * Rejects a ticket that fails `assertMatchTicket`.
   */
  enqueue(ticket: MatchTicket, excluded: ReadonlySet<UserHash>): Promise<MatchPair | null>;
  /** Removes the user's ticket; false if there was none. */
  cancel(userHash: UserHash): Promise<boolean>;
  /**
   * Until `until` (by the matcher's `now`), `a` and `b` are not paired with each other, by
   * enqueue or sweep, as if each were in the other's exclusion set: two people who just
   * ended a chat ("next") are not sent straight back to each other. A later call for the
   * same two replaces the time. Nothing else changes: each still pairs with anyone else.
   */
  keepApart(a: UserHash, b: UserHash, until: number): Promise<void>;
  has(userHash: UserHash): Promise<boolean>;
  /**
   * Re-runs matching for tickets that have waited at least `interestRelaxAfterMs` by `now`,
   * since only the passing of that threshold makes a new pair of waiting tickets allowed.
   * Call it periodically. A ticket already swept need not be tried again: every later
   * arrival considers it (so two waiting users whose exclusion lapses meanwhile are not
   * re-checked). `excludedFor` gives the exclusion set of a waiting ticket's user.
   */
  sweep(
    now: number,
    excludedFor: (userHash: UserHash) => Promise<ReadonlySet<UserHash>>,
  ): Promise<MatchPair[]>;
  /** Removes and returns, oldest first, the tickets enqueued before `before`. */
  expire(before: number): Promise<MatchTicket[]>;
  /** Number of waiting tickets. */
  size(): Promise<number>;
  /** Releases resources; calls after close reject. */
  close(): Promise<void>;
}

const isIntIn = (n: number, min: number, max: number) =>
  Number.isInteger(n) && n >= min && n <= max;

/**
 * Every adapter calls this first: bucket indexes assume integer ages and tolerances, and the
 * per-arrival cost bound assumes at most `LIMITS.maxInterests` interests.
 */
export function assertMatchTicket(ticket: MatchTicket): void {
  const reject = (field: string) => {
    throw new RangeError(`match ticket ${field} out of range`);
  };
  if (!isIntIn(ticket.age, LIMITS.ageMin, LIMITS.ageMax)) reject('age');
  if (!isIntIn(ticket.tolerance, 0, LIMITS.toleranceMax)) reject('tolerance');
  if (ticket.interests.length > LIMITS.maxInterests) reject('interests');
  if (!Number.isFinite(ticket.enqueuedAt)) reject('enqueuedAt');
}
