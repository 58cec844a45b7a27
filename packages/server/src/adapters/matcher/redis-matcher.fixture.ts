/**
 * A server node's matcher in a process of its own, for the test that kills it: queues one
 * ticket (age 30, tolerance 5), prints "queued", and heartbeats until killed.
 * Args: redis url, prefix, userHash.
 */
import type { UserHash } from '@omechat/protocol';
import { RedisMatcher } from './redis-matcher.js';

const [url = '', prefix = '', userHash = ''] = process.argv.slice(2);
const matcher = new RedisMatcher({ url, prefix, leaseMs: 500, interestRelaxAfterMs: 10_000, now: () => 5_000_000 });
await matcher.enqueue({ userHash: userHash as UserHash, age: 30, tolerance: 5, interests: [], enqueuedAt: 5_000_000 }, new Set());
process.stdout.write('queued\n');
setInterval(() => undefined, 60_000);
