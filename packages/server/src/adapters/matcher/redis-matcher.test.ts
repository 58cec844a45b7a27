import { randomBytes } from 'node:crypto';
import { userHashSchema, type UserHash } from '@omechat/protocol';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { MatchPair, MatchTicket } from '../../ports/matcher.js';
import { matcherContract } from './matcher.contract.js';
import { RedisMatcher, type RedisMatcherOptions } from './redis-matcher.js';

// .ci/run starts Redis; an unreachable one fails the suite rather than skipping it.
const url = process.env.OMECHAT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const raw = new Redis(url, { lazyConnect: true });
const prefixes: string[] = [];
/** A prefix of its own per matcher family, so every test starts from an empty queue. */
const freshPrefix = () => {
  const prefix = `omechat-test-${randomBytes(6).toString('hex')}`;
  prefixes.push(prefix);
  return prefix;
};

afterAll(async () => {
  for (const prefix of prefixes) {
    const keys = await raw.keys(`{${prefix}:match}*`);
    if (keys.length > 0) await raw.del(...keys);
  }
  raw.disconnect();
});

async function openMatcher(options: Omit<RedisMatcherOptions, 'url'>): Promise<RedisMatcher> {
  const matcher = new RedisMatcher({ url, ...options });
  try {
    await matcher.size();
  } catch (err) {
    await matcher.close();
    throw new Error(`Redis at ${url} is unreachable (set OMECHAT_TEST_REDIS_URL): ${String(err)}`, { cause: err });
  }
  return matcher;
}

matcherContract('redis', (options) => openMatcher({ ...options, prefix: freshPrefix() }));

describe('RedisMatcher across nodes', () => {
  const user = (n: number | string) => userHashSchema.parse(`user_${n}`.padEnd(16, '_'));
  const noOne: ReadonlySet<UserHash> = new Set();
  const RELAX_MS = 10_000;

  it('pairs users enqueued on different nodes, and never pairs a user twice or loses a ticket when nodes race', async () => {
    const prefix = freshPrefix();
    const now = 1_000_000;
    const nodes = [
      await openMatcher({ prefix, interestRelaxAfterMs: RELAX_MS, now: () => now }),
      await openMatcher({ prefix, interestRelaxAfterMs: RELAX_MS, now: () => now }),
    ];
    try {
      // Cross-node pairing, one at a time.
      expect(await nodes[0]!.enqueue({ userHash: user('on-a'), age: 30, tolerance: 2, interests: [], enqueuedAt: now }, noOne)).toBeNull();
      const across = await nodes[1]!.enqueue({ userHash: user('on-b'), age: 31, tolerance: 2, interests: [], enqueuedAt: now }, noOne);
      expect(across?.waiting.userHash).toBe(user('on-a'));

      // 600 tickets, enqueued by both nodes at once (each node keeps many calls in flight).
      const tickets: MatchTicket[] = Array.from({ length: 600 }, (_, i) => ({
        userHash: user(i),
        age: 13 + ((i * 7) % 30),
        tolerance: i % 6,
        interests: [],
        enqueuedAt: now + i,
      }));
      const results = await Promise.all(tickets.map((t, i) => nodes[i % 2]!.enqueue(t, noOne)));
      const pairs = results.filter((p): p is MatchPair => p !== null);
      const paired = pairs.flatMap((p) => [p.waiting.userHash, p.arriving.userHash]);
      expect(new Set(paired).size).toBe(paired.length); // nobody twice
      for (const { waiting, arriving } of pairs) {
        expect(waiting.age >= 18).toBe(arriving.age >= 18);
        expect(Math.abs(waiting.age - arriving.age)).toBeLessThanOrEqual(Math.min(waiting.tolerance, arriving.tolerance));
      }
      // Every ticket is either in exactly one pair or still waiting: none lost.
      const waitingNow = await Promise.all(tickets.map((t) => nodes[0]!.has(t.userHash)));
      const pairedSet = new Set(paired);
      tickets.forEach((t, i) => expect(pairedSet.has(t.userHash) !== waitingNow[i]).toBe(true));
      expect(await nodes[0]!.size()).toBe(tickets.length - paired.length);
      // Atomic pairing leaves no two waiting tickets that could have been paired.
      const left = tickets.filter((_, i) => waitingNow[i]);
      for (const a of left) {
        for (const b of left) {
          if (a === b || a.age >= 18 !== b.age >= 18) continue;
          expect(Math.abs(a.age - b.age)).toBeGreaterThan(Math.min(a.tolerance, b.tolerance));
        }
      }
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
  });

  it("drops a dead node's tickets once its lease lapses, and pairs nobody with them meanwhile", async () => {
    const prefix = freshPrefix();
    const now = 5_000_000;
    const options = { prefix, interestRelaxAfterMs: RELAX_MS, now: () => now, leaseMs: 500 };
    const live = await openMatcher(options);
    // The dying node: a real process we SIGKILL, so it neither heartbeats nor says goodbye.
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', new URL('./redis-matcher.fixture.ts', import.meta.url).pathname, url, prefix, user('ghost')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('queued') && resolve());
        child.once('exit', (code) => reject(new Error(`fixture exited with ${code}`)));
      });
      expect(await live.has(user('ghost'))).toBe(true);
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
      // Within seconds the lease is gone, and the ghost with it.
      const deadline = Date.now() + 10_000;
      while (await live.has(user('ghost'))) {
        await live.expire(0); // what every node's tick does
        if (Date.now() > deadline) throw new Error('the dead node’s ticket outlived its lease');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await live.has(user('ghost'))).toBe(false);
      // A compatible arrival waits instead of being paired with someone who is gone.
      expect(await live.enqueue({ userHash: user('alive'), age: 30, tolerance: 5, interests: [], enqueuedAt: now }, noOne)).toBeNull();
    } finally {
      child.kill('SIGKILL');
      await live.close();
    }
  });
});
