import { userHashSchema, type UserHash } from '@omechat/protocol';
import { describe, expect, it } from 'vitest';
import type { MatchTicket } from '../../ports/matcher.js';
import { matcherContract } from './matcher.contract.js';
import { MemoryMatcher } from './memory-matcher.js';

matcherContract('memory', (options) => new MemoryMatcher(options));

describe('MemoryMatcher cost', () => {
  const RELAX_MS = 10_000;
  const noOne: ReadonlySet<UserHash> = new Set();
  const user = (n: number | string) => userHashSchema.parse(`user_${n}`.padEnd(16, '_'));

  /**
   * A matcher holding `n` adults who cannot pair with each other yet: each wants an interest
   * nobody else has and none has waited long enough to give it up.
   */
  async function crowded(n: number) {
    let now = 0;
    const matcher = new MemoryMatcher({ interestRelaxAfterMs: RELAX_MS, now: () => now });
    for (let i = 0; i < n; i++) {
      const ticket: MatchTicket = {
        userHash: user(i),
        age: 18 + (i % 40),
        tolerance: i % 6,
        interests: [`solo ${i}`],
        enqueuedAt: now,
      };
      await matcher.enqueue(ticket, noOne);
    }
    expect(await matcher.size()).toBe(n);
    /** Entries inspected to place one arrival; the pair (or null) is checked by the caller. */
    const arrive = async (ticket: Omit<MatchTicket, 'enqueuedAt'>, excluded = noOne) => {
      const before = matcher.inspected;
      const pair = await matcher.enqueue({ ...ticket, enqueuedAt: now }, excluded);
      return { pair, inspected: matcher.inspected - before };
    };
    return { matcher, arrive, advance: (ms: number) => (now += ms) };
  }

  /** Inspections for a fixed script of arrivals against a queue of `n` waiting tickets. */
  async function script(n: number) {
    const { matcher, arrive, advance } = await crowded(n);
    const costs: number[] = [];
    const plain = (name: string, age: number, tolerance = 5, interests: string[] = []) => ({
      userHash: user(name),
      age,
      tolerance,
      interests,
    });

    // Nobody has relaxed: the arrival must not walk the tickets it may not take.
    const unrelaxed = await arrive(plain('plain', 30));
    expect(unrelaxed.pair).toBeNull();
    costs.push(unrelaxed.inspected);

    // A shared interest finds its one holder, the youngest ticket, directly.
    const sharer = await arrive(plain('sharer', 18 + ((n - 1) % 40), 5, [`solo ${n - 1}`]));
    expect(sharer.pair?.waiting.userHash).toBe(user(n - 1));
    costs.push(sharer.inspected);

    // Everybody has relaxed: each arrival takes the oldest compatible ticket.
    advance(RELAX_MS);
    for (let k = 0; k < 50; k++) {
      const { pair, inspected } = await arrive(plain(`late_${k}`, 18 + (k % 40)));
      expect(pair).not.toBeNull();
      costs.push(inspected);
    }

    // Skipping excluded users costs one inspection each, not one per waiting ticket.
    // Users aged 30 are 12, 52, 92, ... (age 18 + i % 40); a late arrival took user 12.
    const aged30 = Array.from({ length: 7 }, (_, j) => user(52 + 40 * j));
    expect(await Promise.all(aged30.map((u) => matcher.has(u)))).not.toContain(false);
    const picky = await arrive(plain('picky', 30, 0), new Set(aged30.slice(0, 5)));
    expect(picky.pair?.waiting.userHash).toBe(aged30[5]);
    costs.push(picky.inspected);
    return costs;
  }

  it('inspects the same number of tickets per arrival with 1,000 or 100,000 waiting', async () => {
    const small = await script(1_000);
    const large = await script(100_000);
    expect(large).toEqual(small);
    // At most 36 compatible cells × 2 buckets, plus the excluded users skipped.
    for (const cost of large) expect(cost).toBeLessThanOrEqual(72 + 5);
  });
});

describe('MemoryMatcher keeping pairs apart', () => {
  it('forgets pairs whose time apart is over, so memory does not grow with every chat ever ended', async () => {
    let now = 0;
    const matcher = new MemoryMatcher({ interestRelaxAfterMs: 10_000, now: () => now });
    const user = (n: number) => userHashSchema.parse(`apart_${n}`.padEnd(16, '_'));
    for (let i = 0; i < 1000; i++) await matcher.keepApart(user(2 * i), user(2 * i + 1), now + 60_000);
    expect(matcher.keptApartUsers).toBe(2000);
    now += 60_000;
    await matcher.keepApart(user(-1), user(-2), now + 60_000);
    expect(matcher.keptApartUsers).toBe(2);
  });
});
