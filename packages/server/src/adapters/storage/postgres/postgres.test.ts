import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import type { ChatId, ClientHash, MessageId, UserHash } from '@omechat/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChatRecord, MessageRecord, StreamEntry } from '../../../ports/storage.js';
import { PG_MIGRATIONS } from './migrations.js';
import { PostgresStorage } from './index.js';
import { storageContract } from '../contract/storage.contract.js';

// .ci/run starts PostgreSQL; an unreachable one fails the suite rather than skipping it.
const url = process.env.OMECHAT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

// Every storage gets a schema of its own, dropped after its test, so tests (and parallel
// runs against one database) never see each other's rows.
const admin = new Pool({ connectionString: url, max: 2 });
admin.on('error', () => undefined);
let pending: string[] = [];
const freshSchema = () => {
  const schema = `omechat_test_${randomBytes(6).toString('hex')}`;
  pending.push(schema);
  return schema;
};

beforeAll(async () => {
  try {
    await admin.query('SELECT 1');
  } catch (err) {
    throw new Error(`PostgreSQL at ${url} is unreachable (set OMECHAT_TEST_POSTGRES_URL): ${String(err)}`, { cause: err });
  }
});
// Runs after the contract's own afterEach has closed the storage.
afterEach(async () => {
  const drop = pending;
  pending = [];
  for (const schema of drop) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
});
afterAll(() => admin.end());

storageContract('postgres', (clock) => PostgresStorage.open({ url, schema: freshSchema(), clock }));

describe('PostgresStorage', () => {
  const open: PostgresStorage[] = [];
  const openStorage = async (schema: string, now = () => 1_000) => {
    const storage = await PostgresStorage.open({ url, schema, clock: { now } });
    open.push(storage);
    return storage;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  const alice = 'user-alice' as UserHash;
  const bob = 'user-bob' as UserHash;
  const chat = (chatId: string): ChatRecord => ({
    chatId: chatId as ChatId,
    members: [alice, bob],
    state: 'active',
    createdAt: 1,
    endedAt: null,
    endReason: null,
    lastSeq: 0,
    lastActivityAt: 1,
  });
  const message = (chatId: string, n: number): Omit<MessageRecord, 'seq'> => ({
    chatId: chatId as ChatId,
    messageId: `msg-${n}` as MessageId,
    senderUserHash: alice,
    senderClientHash: 'client-alice' as ClientHash,
    clientMessageId: `m${n}`,
    envelope: { v: 1, parts: [{ to: 'client-bob' as ClientHash, header: 'aGVhZGVy', ciphertext: `c${n}` }] },
    sentAt: 1_000 + n,
  });

  it('migrates once, even when two processes open a new schema at the same moment', async () => {
    const schema = freshSchema();
    const [first, second] = await Promise.all([openStorage(schema), openStorage(schema)]);
    await first.streams.appendEvents([{ userHash: alice, type: 't', payload: '{}' }]);
    expect(await second.streams.streamHead(alice)).toBe(1);
    await openStorage(schema); // and a restart finds nothing to do
    const { rows } = await admin.query<{ version: number }>(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
    expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
  });

  it('refuses a schema written by a newer server', async () => {
    const schema = freshSchema();
    await openStorage(schema);
    await admin.query(`INSERT INTO ${schema}.schema_migrations (version) VALUES ($1)`, [PG_MIGRATIONS.length + 1]);
    await expect(PostgresStorage.open({ url, schema })).rejects.toThrow(/newer/);
  });

  it('keeps acked writes across close and reopen, and never reuses an event id', async () => {
    const schema = freshSchema();
    const first = await openStorage(schema);
    const [event] = await first.streams.appendEvents([{ userHash: alice, type: 't', payload: '{"a": 1}' }]);
    await first.streams.purgeOlderThan(2_000);
    await first.close();
    const second = await openStorage(schema);
    expect(await second.streams.streamHead(alice)).toBe(event!.id);
    const [next] = await second.streams.appendEvents([{ userHash: alice, type: 't', payload: '{}' }]);
    expect(next!.id).toBe(event!.id + 1);
  });

  it('refuses, in the database itself, to change the audit log or delete a ban', async () => {
    const schema = freshSchema();
    const storage = await openStorage(schema);
    await storage.moderation.createBan(
      { layer: 'account', target: 'user-mallory', reason: 'x', issuer: 'mod', createdAt: 1, expiresAt: null },
      [],
      () => ({ at: 1, actor: 'mod', action: 'ban.create', subject: 'account:user-mallory', details: {} }),
    );
    await expect(admin.query(`UPDATE ${schema}.audit_log SET actor = 'nobody'`)).rejects.toThrow(/append-only/);
    await expect(admin.query(`DELETE FROM ${schema}.audit_log`)).rejects.toThrow(/append-only/);
    await expect(admin.query(`TRUNCATE ${schema}.audit_log`)).rejects.toThrow(/append-only/);
    await expect(admin.query(`DELETE FROM ${schema}.bans`)).rejects.toThrow(/never deleted/);
    expect(await storage.moderation.listAudit({ limit: 10 })).toMatchObject([{ actor: 'mod' }]);
  });

  it('fails to open, and leaves nothing running, when the server cannot be reached', async () => {
    await expect(PostgresStorage.open({ url: 'postgres://postgres@127.0.0.1:1/test' })).rejects.toThrow();
  });

  describe('under concurrency, across two processes (pools) sharing one schema', () => {
    it('numbers 50 concurrent sends to one chat 1..50, without gaps or duplicates', async () => {
      const schema = freshSchema();
      const [p1, p2] = [await openStorage(schema), await openStorage(schema)];
      await p1.chats.createChat(chat('chat-busy'), []);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, n) =>
          (n % 2 ? p1 : p2).chats.appendMessage(message('chat-busy', n)),
        ),
      );
      const seqs = results.map((r) => (r.status === 'stored' ? r.message.seq : -1));
      expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect((await p2.chats.getChat('chat-busy' as ChatId))?.lastSeq).toBe(50);
      const stored = await p1.chats.getMessages('chat-busy' as ChatId, 1, 100);
      expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      // Each message is the one its sender was told it got.
      for (const r of results) if (r.status === 'stored') expect(stored[r.message.seq - 1]?.messageId).toBe(r.message.messageId);
      // Retries racing each other still store once.
      const retries = await Promise.all([p1, p2, p1, p2].map((p) => p.chats.appendMessage(message('chat-busy', 7))));
      expect(retries.map((r) => r.status)).toEqual(['duplicate', 'duplicate', 'duplicate', 'duplicate']);
    });

    it("never lets a polling reader see a larger id of a user's stream before a smaller one commits", async () => {
      const schema = freshSchema();
      const [p1, p2, reader] = [await openStorage(schema), await openStorage(schema), await openStorage(schema)];
      await p1.chats.createChat(chat('chat-race'), []);
      let writing = true;
      const seen: StreamEntry[] = [];
      let cursor = 0;
      const poll = async () => {
        // What a resuming stream does: read after its cursor, move the cursor to the last id.
        for (;;) {
          const done = !writing;
          const batch = await reader.streams.readStream(bob, cursor, 1000);
          seen.push(...batch);
          if (batch.length > 0) cursor = batch.at(-1)!.id;
          if (done) return;
        }
      };
      const write = async (worker: number) => {
        const storage = worker % 2 ? p1 : p2;
        for (let i = 0; i < 15; i++) {
          if ((worker + i) % 3 === 0) {
            await storage.chats.appendMessage(message('chat-race', worker * 100 + i));
          } else {
            await storage.streams.appendEvents([
              { userHash: bob, type: 'test', payload: `{"w":${worker},"i":${i}}` },
              { userHash: alice, type: 'test', payload: '{}' },
            ]);
          }
        }
      };
      const polling = poll();
      await Promise.all(Array.from({ length: 12 }, (_, w) => write(w)));
      writing = false;
      await polling;

      const all = await reader.streams.readStream(bob, 0, 10_000);
      expect(all).toHaveLength(12 * 15);
      // Had an id committed after a larger one was read, the reader would have skipped it.
      expect(seen.map((e) => e.id)).toEqual(all.map((e) => e.id));
    });

    it('hands each one-time prekey to exactly one of many concurrent takers', async () => {
      const schema = freshSchema();
      const [p1, p2] = [await openStorage(schema), await openStorage(schema)];
      await p1.accounts.createUser({ userHash: alice, username: 'alice', usernameKey: 'alice', age: 30, secretHash: 'x', createdAt: 1 });
      const phone = 'client-phone' as ClientHash;
      await p1.accounts.createClient({ clientHash: phone, userHash: alice, tokenHash: 'ab', deviceName: null, createdAt: 1, lastSeenAt: null });
      const key = (c: string) => c.repeat(43);
      await p1.keys.setDeviceKeys(phone, { signingPub: key('s'), dhPub: key('d') }, { id: 1, pub: key('p'), signature: 'g'.repeat(86) });
      await p1.keys.addOneTimePrekeys(phone, Array.from({ length: 10 }, (_, id) => ({ id, pub: key('a') })));

      const taken = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? p1 : p2).keys.takeBundles(alice)));
      const ids = taken.flatMap((bundles) => bundles.map((b) => b.bundle.oneTimePrekey?.id)).filter((id) => id !== undefined);
      expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, id) => id));
      expect(await p2.keys.countOneTimePrekeys(phone)).toBe(0);
    });
  });
});
