import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, envelopeFor, matchedPair, recorder, startTestServer, waitFor, type TestServer } from './harness.js';
import { ADMIN_TOKEN } from './safety-harness.js';
import { freshSchema, startRedisServer, type RedisServer, type TestSchema } from '@omechat/server/testing';

// .ci/run starts PostgreSQL; Redis here is the test's own, so it can be stopped.
let schema: TestSchema;
let redis: RedisServer;
const servers: TestServer[] = [];

beforeAll(async () => {
  schema = await freshSchema('busfault');
  redis = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(servers.splice(0).map((s) => s.destroy()));
  await redis.stop();
  await schema.drop();
});

async function node(): Promise<TestServer> {
  const server = await startTestServer({
    OMECHAT_STORAGE: 'postgres',
    OMECHAT_DATABASE_URL: schema.url,
    OMECHAT_BUS: 'redis',
    OMECHAT_REDIS_URL: redis.url,
    OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN,
  });
  servers.push(server);
  return server;
}

const httpOf = (server: TestServer) => server.url.replace(/^ws/, 'http').replace(/\/trpc$/, '');
const readyz = async (server: TestServer) => (await (await fetch(`${httpOf(server)}/readyz`)).json()) as Record<string, string>;
const metrics = async (server: TestServer) => (await fetch(`${httpOf(server)}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();

describe('a Redis bus outage', () => {
  it('keeps local chats going, shows the outage, and catches every stream up as soon as Redis is back', async () => {
    const [one, two] = [await node(), await node()];
    // Alice and Bob are matched on node one; then Bob moves to node two.
    const across = await matchedPair(one.url);
    await across.b.client.close();
    const bobOnTwo = connect(two.url, across.b.credentials);
    const bob = recorder(bobOnTwo);
    await waitFor(() => bobOnTwo.state === 'connected', 'Bob on node two');
    const local = await matchedPair(one.url);
    const clients = [across.a.client, bobOnTwo, local.a.client, local.b.client];
    try {
      // Bob's stream on node two is live: a message reaches it through the bus.
      const send = (text: string) =>
        across.a.client.message.send({ chatId: across.chatId, envelope: envelopeFor([across.b.credentials.clientHash], text), clientMessageId: text });
      await send('before');
      await waitFor(() => bob.texts().includes('before'), 'the first message on node two');

      await redis.stop();
      await waitFor(async () => (await readyz(one)).bus === 'down', 'node one to notice the outage');
      expect(await readyz(one)).toEqual({ status: 'degraded', database: 'up', bus: 'down' });
      expect(await metrics(one)).toMatch(/^omechat_bus_up 0$/m);

      // A chat within node one goes on.
      await local.a.client.message.send({ chatId: local.chatId, envelope: envelopeFor([local.b.credentials.clientHash], 'local'), clientMessageId: 'local' });
      await waitFor(() => local.eb.texts().includes('local'), 'the local message');

      // Acknowledged and stored, though node two cannot hear of it yet.
      await send('during');

      await redis.start();
      // No new event for Bob: only the bus's return may wake his stream.
      await waitFor(() => bob.texts().includes('during'), 'the message sent during the outage on node two', 30_000);
      expect(bob.texts()).toEqual(['before', 'during']);
      await waitFor(async () => (await readyz(one)).status === 'ready', 'node one ready again', 30_000);
      expect(await metrics(two)).toMatch(/^omechat_bus_up 1$/m);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  }, 90_000);
});
