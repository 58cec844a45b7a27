import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../testing/services.js';
import type { UserHash } from '@omechat/protocol';
import type { BusMessage } from '../../ports/bus.js';
import { busContract } from './bus.contract.js';
import { RedisBus } from './redis-bus.js';

// .ci/run starts Redis; an unreachable one fails the suite rather than skipping it.
const url = process.env.OMECHAT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
// A channel per test, so parallel runs sharing one Redis never hear each other.
const channelOf = (scope: string) => `omechat-test:bus:${scope}`;

async function openBus(scope: string, onError?: (err: unknown) => void): Promise<RedisBus> {
  try {
    return await RedisBus.open({ url, channel: channelOf(scope), connectTimeoutMs: 2000, ...(onError ? { onError } : {}) });
  } catch (err) {
    throw new Error(`Redis at ${url} is unreachable (set OMECHAT_TEST_REDIS_URL): ${String(err)}`, { cause: err });
  }
}

// A Redis of this file's own, which the outage test stops and starts again.
let own: RedisServer;
beforeAll(async () => {
  own = await startRedisServer();
});
afterAll(async () => {
  await own.stop();
});

busContract('redis', {
  open: (scope) => openBus(scope),
  crossProcess: true,
  outage: {
    open: (scope) => RedisBus.open({ url: own.url, channel: channelOf(scope) }),
    interrupt: () => own.stop(),
    restore: () => own.start(),
  },
});

describe('RedisBus', () => {
  const wake = (who: string): BusMessage => ({ kind: 'events', userHash: `user-${who}` as UserHash });

  it('namespaces its channel with the prefix', async () => {
    const prefix = `omechat-test-${process.pid}-${Date.now()}`;
    const bus = await RedisBus.open({ url, prefix });
    const raw = new Redis(url);
    try {
      const heard: string[] = [];
      raw.on('message', (channel: string) => heard.push(channel));
      await raw.subscribe(`${prefix}:bus`);
      bus.publish(wake('prefixed'));
      const deadline = Date.now() + 3000;
      while (heard.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(heard).toEqual([`${prefix}:bus`]);
    } finally {
      raw.disconnect();
      await bus.close();
    }
  });

  it('refuses to open when Redis cannot be reached', async () => {
    await expect(RedisBus.open({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 500 })).rejects.toThrow(/unreachable/);
  });

  it('skips what it cannot read and handlers that throw, and goes on delivering', async () => {
    const scope = `robust-${process.pid}-${Date.now()}`;
    const errors: unknown[] = [];
    const bus = await openBus(scope, (err) => errors.push(err));
    const received: BusMessage[] = [];
    bus.subscribe(() => {
      throw new Error('a broken handler');
    });
    bus.subscribe((m) => received.push(m));
    const raw = new Redis(url);
    try {
      await raw.publish(channelOf(scope), 'not json');
      await raw.publish(channelOf(scope), JSON.stringify({ hello: 'world' }));
      await raw.publish(channelOf(scope), JSON.stringify({ from: 'another-process', message: wake('fine') }));
      // Redis delivers a channel's messages in order: once the good one is here, the bad ones were handled.
      const deadline = Date.now() + 45_000;
      while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(received).toEqual([wake('fine')]);
      expect(errors).toHaveLength(3); // the two unreadable messages and the throwing handler
    } finally {
      raw.disconnect();
      await bus.close();
    }
  });
});
