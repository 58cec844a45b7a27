import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatId } from '@omechat/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recorder, spawnServer, waitFor } from './harness.js';
import { ADMIN_TOKEN, adminClient, closeCodeOf, codeOf, connectFrom, envelopeTo, signUpFrom } from './safety-harness.js';
import { freshSchema, networkKeyOf, networkPrefix, startNginx, startRedisServer, type RedisServer, type TestSchema } from '@omechat/server/testing';

/**
 * The cluster as an operator runs it: three `omechat-server` processes on PostgreSQL (a
 * schema of this file's own) and a Redis this file starts, behind nginx running the
 * repository's deploy/nginx.conf. Every client connects through nginx.
 */
let schema: TestSchema;
const NETWORK_KEY = 'test-network-key-'.padEnd(40, 'n');
const dataDir = mkdtempSync(join(tmpdir(), 'omechat-lb-'));
let redis: RedisServer;
let nodes: Awaited<ReturnType<typeof spawnServer>>[] = [];
let lb: Awaited<ReturnType<typeof startNginx>>;
const open: { close(): unknown }[] = [];
const track = <C extends { close(): unknown }>(c: C) => {
  open.push(c);
  return c;
};

beforeAll(async () => {
  schema = await freshSchema('lb');
  redis = await startRedisServer();
  const env = {
    OMECHAT_STORAGE: 'postgres',
    OMECHAT_DATABASE_URL: schema.url,
    OMECHAT_BUS: 'redis',
    OMECHAT_MATCHER: 'redis',
    OMECHAT_REDIS_URL: redis.url,
    OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN,
    OMECHAT_NETWORK_KEY: NETWORK_KEY,
    // nginx reaches the nodes from loopback; X-Forwarded-For from it is believed.
    OMECHAT_TRUSTED_PROXIES: '127.0.0.1',
  };
  // The first migrates the schema; the others find it done.
  nodes = [await spawnServer(dataDir, 0, 'warn', env)];
  nodes.push(...(await Promise.all([spawnServer(dataDir, 0, 'warn', env), spawnServer(dataDir, 0, 'warn', env)])));
  lb = await startNginx(nodes.map((n) => n.port));
}, 60_000);
afterAll(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await lb?.stop();
  await Promise.all(nodes.filter((n) => !n.exited()).map((n) => n.stop()));
  await redis?.stop();
  await schema?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const httpOf = (url: string) => url.replace(/^ws/, 'http').replace(/\/trpc$/, '');
type User = Awaited<ReturnType<typeof signUpFrom>> & { events: ReturnType<typeof recorder> };
const connectionsOn = async (node: (typeof nodes)[number]) => {
  const metrics = await (await fetch(`${httpOf(node.url)}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  return Number(/^omechat_connections (\d+)$/m.exec(metrics)?.[1] ?? NaN);
};

describe('three nodes behind nginx', () => {
  it('spreads users over the nodes, matches and relays across them, and loses nothing acknowledged when a node is SIGKILLed', async () => {
    expect((await fetch(`${lb.http}/readyz`)).status).toBe(200);
    // Six users through nginx, three pairs: each pair shares an age nobody else in the file has.
    const users: User[] = [];
    for (let i = 0; i < 6; i++) {
      const u = await signUpFrom(lb.url, `127.0.5.${i + 1}`, 90 + Math.floor(i / 2));
      track(u.client);
      users.push({ ...u, events: recorder(u.client) });
    }
    await waitFor(async () => (await Promise.all(nodes.map(connectionsOn))).every((n) => n >= 1), 'connections on every node');

    const pairs: { a: User; b: User; chatId: ChatId }[] = [];
    for (let p = 0; p < 3; p++) {
      const [a, b] = [users[2 * p]!, users[2 * p + 1]!];
      await a.client.match.start({ tolerance: 0 });
      await b.client.match.start({ tolerance: 0 });
      const { chatId } = await a.events.next('match.found');
      expect((await b.events.next('match.found')).chatId).toBe(chatId);
      pairs.push({ a, b, chatId });
    }

    /** Sends until acknowledged; a retry reuses the clientMessageId, so it never doubles. */
    const acked = new Map<string, string[]>(); // receiver userHash -> texts acknowledged to the sender
    const send = async (from: User, to: User, chatId: ChatId, text: string) => {
      for (;;) {
        try {
          await from.client.message.send({ chatId, envelope: envelopeTo(to.credentials.clientHash, text), clientMessageId: text });
          break;
        } catch (err) {
          if ((err as { code?: string }).code !== 'UNAVAILABLE') throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      acked.set(to.userHash, [...(acked.get(to.userHash) ?? []), text]);
    };
    const round = (tag: string) =>
      Promise.all(
        pairs.flatMap(({ a, b, chatId }, p) => [
          (async () => {
            for (let i = 0; i < 3; i++) await send(a, b, chatId, `${tag}-p${p}-a${i}`);
          })(),
          (async () => {
            for (let i = 0; i < 3; i++) await send(b, a, chatId, `${tag}-p${p}-b${i}`);
          })(),
        ]),
      );

    await round('before');
    const victim = nodes[0]!;
    const during = round('during');
    await victim.kill();
    await during;
    // The users of the dead node reconnect through nginx to the others and resume.
    await round('after');
    for (const u of users) {
      const expected = acked.get(u.userHash) ?? [];
      await waitFor(() => expected.every((text) => u.events.texts().includes(text)), `every acknowledged message to ${u.username}`, 30_000);
    }
    const total = [...acked.values()].reduce((n, texts) => n + texts.length, 0);
    expect(total).toBe(3 * 2 * 3 * 3);
  }, 120_000);

  it('holds a network ban issued through one node at every node, seeing clients through X-Forwarded-For', async () => {
    const alive = nodes.filter((n) => !n.exited());
    const inside = await signUpFrom(lb.url, '127.0.6.5');
    track(inside.client);
    await inside.client.account.me();
    const kicked = closeCodeOf(inside.client);
    const moderator = track(adminClient(alive[0]!.url));
    await moderator.trpc.admin.bans.create.mutate({
      layer: 'network',
      target: networkKeyOf(NETWORK_KEY, networkPrefix('127.0.6.1')),
      reason: 'raid',
      expiresAt: null,
    });
    expect(await kicked).toBe('banned');
    // Through nginx, connections are spread over the live nodes: four attempts reach both.
    for (let i = 0; i < 4; i++) {
      const client = track(connectFrom(lb.url, `127.0.6.${10 + i}`));
      expect(await codeOf(client.account.register({ username: `raider_${process.pid}_${i}`, age: 30 }))).toBe('BANNED');
    }
    // Directly at every live node as well (a direct connection shows its own address).
    for (const node of alive) {
      expect(await codeOf(track(connectFrom(node.url, '127.0.6.20')).account.register({ username: `direct_${node.port}`, age: 30 }))).toBe('BANNED');
    }
    // Another network passes: the refusals above were not about nginx's own address.
    expect(await track(connectFrom(lb.url, '127.0.7.1')).account.register({ username: `fine_${process.pid}`, age: 30 })).toHaveProperty('userHash');
  }, 60_000);
});
