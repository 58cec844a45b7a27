import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@omechat/server';
import { freshSchema, type TestSchema } from '@omechat/server/testing';
import { connect, envelopeFor, matchedPair, recorder, startTestServer, type TestServer } from './harness.js';

// .ci/run starts both services; unreachable ones fail this file rather than skip it.
const redisUrl = process.env.OMECHAT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let schema: TestSchema;
const servers: TestServer[] = [];
const closers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  schema = await freshSchema('e2e');
});
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.destroy()));
});
afterAll(() => schema.drop());

/** A server process of a deployment: its own port, the shared database schema and Redis. */
async function startSharedServer(): Promise<TestServer> {
  const server = await startTestServer({
    OMECHAT_STORAGE: 'postgres',
    OMECHAT_DATABASE_URL: schema.url,
    OMECHAT_BUS: 'redis',
    OMECHAT_REDIS_URL: redisUrl,
  });
  servers.push(server);
  return server;
}

describe('two servers sharing PostgreSQL and Redis', () => {
  it('delivers a message sent through one server to a user connected to the other', async () => {
    // Started together: the second waits on the migration lock instead of migrating twice.
    const [one, two] = await Promise.all([startSharedServer(), startSharedServer()]);

    // Matching is per process, so both are matched on server one; then Bob moves to two.
    const { a, b, chatId } = await matchedPair(one.url);
    closers.push(a.client);
    await b.client.close();
    const bobOnTwo = connect(two.url, b.credentials);
    closers.push(bobOnTwo);
    const bobEvents = recorder(bobOnTwo);
    // Live before Alice sends: a new device's stream starts from now, so it must be open first.
    await bobOnTwo.eventsLive();

    const ack = await a.client.message.send({
      chatId,
      envelope: envelopeFor([b.credentials.clientHash], 'hello from server one'),
      clientMessageId: 'across-1',
    });
    expect(ack.seq).toBe(1);
    const arrived = await bobEvents.next('message.new');
    expect(bobEvents.texts()).toEqual(['hello from server one']);
    expect(arrived.message).toMatchObject({ chatId, seq: 1, senderUserHash: a.userHash, messageId: ack.messageId });
    // Both servers really share the schema: the one message is stored there once.
    const stored = await schema.admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema.name}.messages`);
    expect(stored.rows[0]?.n).toBe(1);

    // What server two stores for Bob (his read receipt) wakes Alice's stream on server one.
    const aliceEvents = recorder(a.client);
    await bobOnTwo.message.markRead(chatId, 1);
    expect(await aliceEvents.next('message.read')).toMatchObject({ chatId, seq: 1, by: b.userHash });

    // And back: server one holds the chat's history block from Alice's send, without
    // Bob's reply, which server two stored; the cache must catch up rather than drop it.
    const reply = await bobOnTwo.message.send({
      chatId,
      envelope: envelopeFor([a.credentials.clientHash], 'hello from server two'),
      clientMessageId: 'across-2',
    });
    expect(reply.seq).toBe(2);
    expect((await aliceEvents.next('message.new')).message).toMatchObject({ seq: 2, senderUserHash: b.userHash });
    expect(aliceEvents.texts()).toEqual(['hello from server two']);
  });
});

describe('configuration', () => {
  it('refuses OMECHAT_STORAGE=postgres without OMECHAT_DATABASE_URL, naming the variable', () => {
    expect(() => loadConfig({ OMECHAT_STORAGE: 'postgres' })).toThrow(ConfigError);
    expect(() => loadConfig({ OMECHAT_STORAGE: 'postgres' })).toThrow(/OMECHAT_DATABASE_URL is unset: required when OMECHAT_STORAGE=postgres/);
    expect(() => loadConfig({ OMECHAT_STORAGE: 'postgres', OMECHAT_DATABASE_URL: 'mysql://db' })).toThrow(/OMECHAT_DATABASE_URL/);
    expect(() => loadConfig({ OMECHAT_BUS: 'carrier-pigeon' })).toThrow(/OMECHAT_BUS/);
    expect(loadConfig({})).toMatchObject({ OMECHAT_BUS: 'local', OMECHAT_STORAGE: 'sqlite' });
  });
});
