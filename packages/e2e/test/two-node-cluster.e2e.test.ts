import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, recorder, startTestServer, type TestServer } from './harness.js';
import { ADMIN_TOKEN, adminClient, closeCodeOf, codeOf, connectFrom, envelopeTo, signUpFrom } from './safety-harness.js';
import { freshSchema, networkKeyOf, networkPrefix, startRedisServer, type RedisServer, type TestSchema } from '@omechat/server/testing';

// Two nodes of one deployment: the shared PostgreSQL (a schema of this file's own) and a
// Redis this file starts, carrying the bus and the matcher.
const NETWORK_KEY = 'test-network-key-'.padEnd(40, 'n');
const prefix = `cluster-${randomBytes(6).toString('hex')}`;
let schema: TestSchema;
let redis: RedisServer;
let one: TestServer;
let two: TestServer;
const open: { close(): unknown }[] = [];
const track = <C extends { close(): unknown }>(c: C) => {
  open.push(c);
  return c;
};

const node = () =>
  startTestServer({
    OMECHAT_STORAGE: 'postgres',
    OMECHAT_DATABASE_URL: schema.url,
    OMECHAT_BUS: 'redis',
    OMECHAT_MATCHER: 'redis',
    OMECHAT_REDIS_URL: redis.url,
    OMECHAT_RATE_LIMIT_STORE: 'redis',
    OMECHAT_REDIS_PREFIX: prefix,
    OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN,
    OMECHAT_NETWORK_KEY: NETWORK_KEY,
  });

beforeAll(async () => {
  schema = await freshSchema('cluster');
  redis = await startRedisServer();
  [one, two] = await Promise.all([node(), node()]);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await Promise.all([one.destroy(), two.destroy()]);
  await redis.stop();
  await schema.drop();
});

/** A user signed up on `server` from `from`, recording events. */
async function user(server: TestServer, from = '127.0.0.1', age = 44) {
  const u = await signUpFrom(server.url, from, age);
  track(u.client);
  return { ...u, events: recorder(u.client) };
}

describe('a cluster of two nodes', () => {
  it('matches users on different nodes, who then chat both ways and see the chat end', async () => {
    // An age nobody else in this file uses, so the two can only meet each other.
    const [a, b] = [await user(one, '127.0.0.1', 77), await user(two, '127.0.0.1', 77)];
    expect(await a.client.match.start({ tolerance: 0 })).toMatchObject({ queued: true });
    expect(await b.client.match.start({ tolerance: 0 })).toMatchObject({ queued: false });
    const found = await a.events.next('match.found');
    expect(found.peer.userHash).toBe(b.userHash);
    expect((await b.events.next('match.found')).chatId).toBe(found.chatId);

    await a.client.message.send({ chatId: found.chatId, envelope: envelopeTo(b.credentials.clientHash, 'from node one'), clientMessageId: 'one' });
    await b.events.next('message.new');
    await b.client.message.send({ chatId: found.chatId, envelope: envelopeTo(a.credentials.clientHash, 'from node two'), clientMessageId: 'two' });
    await a.events.next('message.new');
    expect([a.events.texts(), b.events.texts()]).toEqual([['from node two'], ['from node one']]);

    await a.client.chat.leave(found.chatId);
    expect(await b.events.next('chat.ended')).toMatchObject({ chatId: found.chatId });
  });

  it('closes a device revoked through one node on the node it is connected to', async () => {
    const phone = await user(one);
    const laptop = track(connect(two.url));
    const creds = await laptop.account.login({ username: phone.username, secret: phone.secret });
    await laptop.account.me();
    const closed = closeCodeOf(laptop);
    await phone.client.clients.revoke({ clientHash: creds.clientHash, secret: phone.secret });
    expect(await closed).toBe('revoked');
  });

  it('closes a banned account on every node', async () => {
    const target = await user(two);
    await target.client.account.me();
    const closed = closeCodeOf(target.client);
    const moderator = track(adminClient(one.url));
    await moderator.trpc.admin.bans.create.mutate({ layer: 'account', target: target.userHash, reason: 'threats', expiresAt: null });
    expect(await closed).toBe('banned');
    expect(await codeOf(track(connectFrom(two.url, '127.0.0.1', target.credentials)).account.me())).toBe('BANNED');
  });

  it('kicks a network banned through one node off every node, and keeps it out there', async () => {
    const from = '127.0.3.9';
    const target = await user(two, from);
    await target.client.account.me();
    const closed = closeCodeOf(target.client);
    const moderator = track(adminClient(one.url));
    const networkKey = networkKeyOf(NETWORK_KEY, networkPrefix(from));
    await moderator.trpc.admin.bans.create.mutate({ layer: 'network', target: networkKey, reason: 'raid', expiresAt: null });
    expect(await closed).toBe('banned');
    for (const server of [one, two]) {
      expect(await codeOf(track(connectFrom(server.url, '127.0.3.10')).account.register({ username: `raider_${server.server.port}`, age: 20 }))).toBe('BANNED');
    }
  });

  it('keeps every Redis key and channel under OMECHAT_REDIS_PREFIX', async () => {
    // Waiting tickets, rate-limit counters and the bus subscriptions exist by now.
    const waiting = await user(one, '127.0.0.1', 101);
    await waiting.client.match.start({ tolerance: 0 });
    const raw = new Redis(redis.url);
    try {
      const keys = await raw.keys('*');
      expect(keys.some((k) => k.startsWith(`{${prefix}:match}`))).toBe(true);
      expect(keys.some((k) => k.startsWith(`${prefix}:rl:`))).toBe(true);
      expect(keys.filter((k) => !k.startsWith(`${prefix}:`) && !k.startsWith(`{${prefix}:match}`))).toEqual([]);
      expect(await raw.pubsub('CHANNELS', '*')).toEqual([`${prefix}:bus`]);
    } finally {
      raw.disconnect();
    }
  });
});
