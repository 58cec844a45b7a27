import { userHashSchema, type UserHash } from '@omechat/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Matcher, MatcherOptions, MatchPair, MatchTicket } from '../../ports/matcher.js';

const user = (name: string): UserHash => userHashSchema.parse(name.padEnd(16, '_'));
const RELAX_MS = 10_000;
const START = 1_700_000_000_000;

/**
 * The behaviour every Matcher adapter must have. Each adapter's test file calls this once;
 * `makeMatcher` must return an empty matcher using the given options.
 */
export function matcherContract(
  name: string,
  makeMatcher: (options: MatcherOptions) => Matcher | Promise<Matcher>,
): void {
  describe(`Matcher contract: ${name}`, () => {
    let now = START;
    let matcher: Matcher;
    const noOne: ReadonlySet<UserHash> = new Set();
    const open = () => makeMatcher({ interestRelaxAfterMs: RELAX_MS, now: () => now });

    beforeEach(async () => {
      now = START;
      matcher = await open();
    });
    afterEach(async () => {
      await matcher.close();
    });

    const ticket = (
      name: string,
      age: number,
      tolerance: number,
      interests: string[] = [],
      enqueuedAt = now,
    ): MatchTicket => ({ userHash: user(name), age, tolerance, interests, enqueuedAt });
    const join = (t: MatchTicket, excluded: Iterable<string> = []) =>
      matcher.enqueue(t, new Set([...excluded].map(user)));
    /** [waiting, arriving] user names of a pair, or null. */
    const names = (pair: MatchPair | null) =>
      pair && [pair.waiting.userHash, pair.arriving.userHash].map((u) => u.replace(/_+$/, ''));
    const sweepAt = (at: number, excludedFor = async (_: UserHash) => noOne) => {
      now = at;
      return matcher.sweep(at, excludedFor);
    };
    const waiting = async (...who: string[]) =>
      Promise.all(who.map((name) => matcher.has(user(name))));

    describe('age-tolerance safety', () => {
      it('pairs 15 with 17 and 18 with 22, but never 17 with 18, at tolerance 5', async () => {
        expect(await join(ticket('age17', 17, 5))).toBeNull();
        expect(await join(ticket('age18', 18, 5))).toBeNull();
        expect(await sweepAt(now + RELAX_MS)).toEqual([]);
        expect(await matcher.size()).toBe(2);

        expect(names(await join(ticket('age15', 15, 5)))).toEqual(['age17', 'age15']);
        expect(names(await join(ticket('age22', 22, 5)))).toEqual(['age18', 'age22']);
        expect(await matcher.size()).toBe(0);
      });

      it('keeps minors and adults apart even when interests are shared and relaxed', async () => {
        expect(await join(ticket('minor', 17, 5, ['chess']))).toBeNull();
        expect(await join(ticket('adult', 18, 5, ['chess']))).toBeNull();
        expect(await sweepAt(now + 10 * RELAX_MS)).toEqual([]);
        expect(await waiting('minor', 'adult')).toEqual([true, true]);
      });

      it('requires the age gap to fit within the smaller of the two tolerances', async () => {
        expect(await join(ticket('wide22', 22, 5))).toBeNull();
        expect(await join(ticket('narrow25', 25, 2))).toBeNull();
        const pair = await join(ticket('narrow24', 24, 2));
        expect(names(pair)).toEqual(['wide22', 'narrow24']);
        expect(pair?.waiting.tolerance).toBe(5);

        // The other way round: a wide arrival cannot widen a narrow waiting ticket.
        expect(await join(ticket('again22', 22, 5))).toBeNull();
        expect(await matcher.size()).toBe(2);
      });

      it('pairs equal ages at tolerance 0 and nothing else', async () => {
        expect(await join(ticket('zero30', 30, 0))).toBeNull();
        expect(await join(ticket('five31', 31, 5))).toBeNull();
        expect(names(await join(ticket('zero30b', 30, 0)))).toEqual(['zero30', 'zero30b']);
      });

      it('rejects tickets outside the protocol limits', async () => {
        const bad = [
          ticket('tooYoung', 12, 5),
          ticket('tooOld', 121, 5),
          ticket('fraction', 20.5, 5),
          ticket('negative', 20, -1),
          ticket('tooTolerant', 20, 6),
          ticket('tooCurious', 20, 5, ['a', 'b', 'c', 'd', 'e', 'f']),
        ];
        for (const t of bad) await expect(join(t)).rejects.toThrow();
        expect(await matcher.size()).toBe(0);
      });
    });

    describe('fairness', () => {
      it('gives the arrival the longest-waiting compatible ticket, across ages', async () => {
        // Exclusions keep the three apart so that all of them wait.
        await join(ticket('first31', 31, 5));
        now += 1000;
        await join(ticket('second30', 30, 5), ['first31']);
        now += 1000;
        await join(ticket('third29', 29, 5), ['first31', 'second30']);

        expect(names(await join(ticket('x', 30, 5)))).toEqual(['first31', 'x']);
        expect(names(await join(ticket('y', 30, 5)))).toEqual(['second30', 'y']);
        expect(names(await join(ticket('z', 30, 5)))).toEqual(['third29', 'z']);
      });

      it('breaks a tie of enqueuedAt by insertion order', async () => {
        await join(ticket('early', 40, 5));
        await join(ticket('late', 40, 5), ['early']);
        expect(names(await join(ticket('x', 40, 5)))).toEqual(['early', 'x']);
      });

      it('orders by enqueuedAt, not by call order', async () => {
        await join(ticket('newer', 40, 5, [], now));
        await join(ticket('older', 40, 5, [], now - 5000), ['newer']);
        expect(names(await join(ticket('x', 40, 5)))).toEqual(['older', 'x']);
      });
    });

    describe('exclusion and identity', () => {
      it('never pairs excluded users, and takes the next compatible ticket instead', async () => {
        await join(ticket('blocked', 25, 5));
        expect(await join(ticket('blocker', 25, 5), ['blocked'])).toBeNull();
        const skipped = await join(ticket('other', 25, 5), ['blocked']);
        expect(names(skipped)).toEqual(['blocker', 'other']);
        expect(names(await join(ticket('free', 25, 5)))).toEqual(['blocked', 'free']);
      });

      it('keeps one ticket per user: a re-enqueue replaces it, never self-matches', async () => {
        expect(await join(ticket('alice', 20, 0))).toBeNull();
        now += 1000;
        expect(await join(ticket('alice', 20, 5))).toBeNull();
        expect(await matcher.size()).toBe(1);

        const pair = await join(ticket('bob', 24, 5));
        expect(names(pair)).toEqual(['alice', 'bob']);
        expect(pair?.waiting).toEqual(ticket('alice', 20, 5));
        expect(await matcher.size()).toBe(0);
      });

      it('asks excludedFor when sweeping and honours the answer', async () => {
        await join(ticket('ann', 30, 5, ['chess']));
        await join(ticket('ben', 30, 5, ['go']));
        const asked: UserHash[] = [];
        const pairs = await sweepAt(now + RELAX_MS, async (u) => {
          asked.push(u);
          return new Set([user('ann'), user('ben')].filter((other) => other !== u));
        });
        expect(pairs).toEqual([]);
        expect(asked).toContain(user('ann'));
        expect(await waiting('ann', 'ben')).toEqual([true, true]);
      });
    });

    describe('keeping recent partners apart', () => {
      const APART_MS = 30 * 60_000;
      const apart = (a: string, b: string, until = now + APART_MS) => matcher.keepApart(user(a), user(b), until);

      it('does not pair two kept apart, in either order, but pairs each with someone else', async () => {
        await apart('ann', 'ben');
        expect(await join(ticket('ann', 30, 5))).toBeNull();
        expect(await join(ticket('ben', 30, 5))).toBeNull();
        expect(await matcher.size()).toBe(2);
        expect(names(await join(ticket('cat', 30, 5)))).toEqual(['ann', 'cat']);
        expect(names(await join(ticket('dan', 30, 5)))).toEqual(['ben', 'dan']);
      });

      it('keeps them apart in a sweep too, when they are the only two waiting', async () => {
        await apart('ann', 'ben');
        expect(await join(ticket('ann', 30, 5, ['chess']))).toBeNull();
        expect(await join(ticket('ben', 30, 5, ['go']))).toBeNull();
        expect(await sweepAt(now + RELAX_MS)).toEqual([]);
        expect(await waiting('ann', 'ben')).toEqual([true, true]);
      });

      it('pairs them again once the time apart is over', async () => {
        await apart('ann', 'ben');
        expect(await join(ticket('ann', 30, 5))).toBeNull();
        now += APART_MS - 1;
        expect(await join(ticket('ben', 30, 5))).toBeNull();
        now += 1;
        expect(names(await join(ticket('ben', 30, 5)))).toEqual(['ann', 'ben']);
      });

      it('takes the newer time when a pair is kept apart again', async () => {
        await apart('ann', 'ben', now + 1000);
        await apart('ben', 'ann', now + APART_MS);
        now += 5000;
        expect(await join(ticket('ann', 30, 5))).toBeNull();
        expect(await join(ticket('ben', 30, 5))).toBeNull();
      });
    });

    describe('cancel, expire and size', () => {
      it('cancels a ticket so nobody is paired with it', async () => {
        await join(ticket('leaver', 20, 5));
        expect(await matcher.cancel(user('leaver'))).toBe(true);
        expect(await matcher.cancel(user('leaver'))).toBe(false);
        expect(await matcher.has(user('leaver'))).toBe(false);
        expect(await join(ticket('x', 20, 5))).toBeNull();
        expect(await matcher.size()).toBe(1);
      });

      it('expires tickets enqueued before the cut-off, oldest first', async () => {
        await join(ticket('t0', 20, 0, [], now));
        await join(ticket('t10', 40, 0, [], now + 10));
        await join(ticket('t20', 60, 0, [], now + 20));

        const expired = await matcher.expire(now + 20);
        expect(expired.map((t) => t.userHash)).toEqual([user('t0'), user('t10')]);
        expect(expired[0]).toEqual(ticket('t0', 20, 0, [], now));
        expect(await matcher.expire(now + 20)).toEqual([]);
        expect(await waiting('t0', 't10', 't20')).toEqual([false, false, true]);
        expect(await join(ticket('x', 20, 0))).toBeNull();
      });

      it('counts waiting tickets', async () => {
        expect(await matcher.size()).toBe(0);
        await join(ticket('a', 20, 5));
        await join(ticket('b', 50, 5));
        expect(await matcher.size()).toBe(2);
        await join(ticket('c', 21, 5));
        expect(await matcher.size()).toBe(1);
      });

      it('rejects calls after close', async () => {
        const closing = await open();
        await closing.close();
        await expect(closing.size()).rejects.toThrow();
        await expect(closing.enqueue(ticket('late', 20, 5), noOne)).rejects.toThrow();
      });
    });

    describe('interests', () => {
      it('pairs tickets without interests at once', async () => {
        await join(ticket('a', 20, 5));
        expect(names(await join(ticket('b', 21, 5)))).toEqual(['a', 'b']);
      });

      it('prefers a shared interest over an older ticket that shares none', async () => {
        await join(ticket('plain19', 19, 5));
        now += RELAX_MS; // plain19 would now accept anyone
        await join(ticket('chess25', 25, 5, ['chess']));
        now += 1000;
        await join(ticket('chessgo25', 25, 5, ['go', 'chess']), ['chess25']);

        const pair = await join(ticket('x', 22, 5, ['go', 'chess']));
        expect(names(pair)).toEqual(['chess25', 'x']);
        expect(pair?.sharedInterests).toEqual(['chess']);
        const next = await join(ticket('y', 22, 5, ['chess', 'go']));
        expect(names(next)).toEqual(['chessgo25', 'y']);
        expect(next?.sharedInterests).toEqual(['chess', 'go']);
      });

      it('holds tickets with interests until one of a non-sharing pair has relaxed', async () => {
        await join(ticket('chess', 30, 5, ['chess']));
        expect(await join(ticket('go', 30, 5, ['go']))).toBeNull();
        expect(await join(ticket('plain', 30, 5))).toBeNull();
        expect(await sweepAt(now + RELAX_MS - 1)).toEqual([]);
        expect(await matcher.size()).toBe(3);

        const pairs = await sweepAt(START + RELAX_MS);
        expect(pairs.map(names)).toEqual([['chess', 'go']]);
        expect(pairs[0]?.sharedInterests).toEqual([]);

        // plain has waited long enough, so a fresh arrival with interests may take it.
        expect(names(await join(ticket('fresh', 31, 5, ['tennis'])))).toEqual(['plain', 'fresh']);
      });

      it('does not let a fresh arrival with interests take a fresh ticket without', async () => {
        await join(ticket('plain', 30, 5));
        expect(await join(ticket('chess', 30, 5, ['chess']))).toBeNull();
        expect(names((await sweepAt(now + RELAX_MS))[0] ?? null)).toEqual(['plain', 'chess']);
      });

      it('matches a relaxed waiting ticket with a fresh arrival that shares nothing', async () => {
        await join(ticket('chess', 30, 5, ['chess']));
        now += RELAX_MS;
        expect(names(await join(ticket('go', 30, 5, ['go'])))).toEqual(['chess', 'go']);
      });
    });
  });
}
