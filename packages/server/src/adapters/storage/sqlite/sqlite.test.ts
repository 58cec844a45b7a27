import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { ChatId, ClientHash, Envelope, MessageId, UserHash } from '@omechat/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from './migrations.js';
import { SqliteStorage } from './index.js';
import { storageContract } from '../contract/storage.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'omechat-sqlite-'));
let files = 0;
const freshFile = () => join(dir, `storage-${++files}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

storageContract('sqlite', (clock) => new SqliteStorage({ file: freshFile(), clock }));

describe('SqliteStorage on disk', () => {
  const alice = {
    userHash: 'user-alice' as UserHash,
    username: 'alice',
    usernameKey: 'alice',
    age: 30,
    secretHash: '$argon2id$alice',
    createdAt: 1_000,
  };

  it('keeps acked writes across close and reopen', async () => {
    const file = freshFile();
    const first = new SqliteStorage({ file });
    await first.accounts.createUser(alice);
    const [event] = await first.streams.appendEvents([
      { userHash: alice.userHash, type: 't', payload: '{}' },
    ]);
    await first.close();

    const second = new SqliteStorage({ file });
    expect(await second.accounts.getUser(alice.userHash)).toEqual(alice);
    expect(await second.streams.readStream(alice.userHash, 0, 10)).toEqual([event]);
    expect(await second.streams.streamHead(alice.userHash)).toBe(event!.id);
    await second.close();
  });

  it('closes while writes keep arriving: each is on disk or refused, and no fsync outlives the file', async () => {
    const file = freshFile();
    const fatal: Error[] = [];
    const storage = new SqliteStorage({ file, onFatal: (error) => fatal.push(error) });
    await storage.accounts.createUser(alice);
    const append = () => storage.streams.appendEvents([{ userHash: alice.userHash, type: 't', payload: '{}' }]);
    // close() starts its own fsync; a write that queues behind it is committed when that fsync
    // ends, in the same callback that lets close() go on.
    const closed = storage.close();
    const during = append();
    await closed;
    const after = append();
    const [duringOutcome, afterOutcome] = await Promise.allSettled([during, after]);
    expect(fatal).toEqual([]);
    expect(duringOutcome.status).toBe('fulfilled');
    expect(afterOutcome).toMatchObject({ status: 'rejected', reason: { message: 'SqliteStorage is closed' } });

    const reopened = new SqliteStorage({ file });
    expect(await reopened.streams.readStream(alice.userHash, 0, 10)).toHaveLength(1);
    await reopened.close();
  });

  it('runs each migration once and records it in user_version', async () => {
    const file = freshFile();
    await new SqliteStorage({ file }).close();
    const reopened = new SqliteStorage({ file });
    await reopened.accounts.createUser(alice);
    await reopened.close();

    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('commits the writes of one turn together, yet each succeeds or fails alone', async () => {
    const storage = new SqliteStorage({ file: freshFile() });
    const bob = { ...alice, userHash: 'user-bob' as UserHash, username: 'bob', usernameKey: 'bob' };
    const outcomes = await Promise.allSettled([
      storage.accounts.createUser(alice),
      storage.accounts.createUser(alice),
      storage.streams.appendEvents([{ userHash: alice.userHash, type: 't', payload: '{}' }]),
      storage.chats.createChat(
        { chatId: 'chat-1' as never, members: [alice.userHash, bob.userHash], state: 'active', createdAt: 1, endedAt: null, endReason: null, lastSeq: 0, lastActivityAt: 1 },
        [{ userHash: alice.userHash, type: 'x', payload: '{}' }],
      ),
      storage.chats.createChat(
        { chatId: 'chat-1' as never, members: [alice.userHash, bob.userHash], state: 'active', createdAt: 1, endedAt: null, endReason: null, lastSeq: 0, lastActivityAt: 1 },
        [{ userHash: alice.userHash, type: 'y', payload: '{}' }],
      ),
      storage.accounts.createUser(bob),
    ]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? typeof o.value === 'string' ? o.value : 'ok' : 'rejected'))).toEqual([
      'created',
      'user_exists',
      'ok',
      'ok',
      'rejected', // the same chat id twice: this write alone is rolled back
      'created',
    ]);
    expect((await storage.streams.readStream(alice.userHash, 0, 10)).map((e) => ('type' in e ? e.type : 'message'))).toEqual(['t', 'x']);
    expect(await storage.accounts.getUser(bob.userHash)).toEqual(bob);
    await storage.close();
  });

  it('keeps the meaning of cursors handed out before streams were numbered per user', async () => {
    // A database as schema v3 left it: one global event id, a message.new row per member.
    const file = freshFile();
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    for (const sql of MIGRATIONS.slice(0, 3)) old.exec(sql);
    old.pragma('user_version = 3');
    const bob = { ...alice, userHash: 'user-bob' as UserHash, username: 'bob', usernameKey: 'bob' };
    for (const u of [alice, bob]) {
      old.prepare('INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)').run(u.userHash, u.username, u.usernameKey, u.age, u.secretHash, u.createdAt);
    }
    old.prepare(`INSERT INTO chats VALUES ('chat-1', ?, ?, 'active', 1, NULL, NULL, 1, 1)`).run(alice.userHash, bob.userHash);
    old.prepare(`INSERT INTO messages VALUES ('chat-1', 1, 'msg-1', ?, 'client-alice', 'c1', '{"v":1,"parts":[]}', 5)`).run(alice.userHash);
    const insertEvent = old.prepare('INSERT INTO events (user_hash, type, payload, created_at) VALUES (?, ?, ?, 1)');
    insertEvent.run(alice.userHash, 'match.found', '{"type":"match.found"}'); // id 1
    insertEvent.run(bob.userHash, 'match.found', '{"type":"match.found"}'); // id 2
    insertEvent.run(alice.userHash, 'message.new', '{"chatId":"chat-1","seq":1}'); // id 3
    insertEvent.run(bob.userHash, 'message.new', '{"chatId":"chat-1","seq":1}'); // id 4
    old.close();

    const storage = new SqliteStorage({ file });
    // Bob's device last saw id 2 (the match): it still gets the message, as id 4.
    const missed = await storage.streams.readStream(bob.userHash, 2, 10);
    expect(missed.map((e) => [e.id, 'message' in e ? e.message.messageId : e.type])).toEqual([[4, 'msg-1']]);
    expect((await storage.streams.readStream(alice.userHash, 0, 10)).map((e) => e.id)).toEqual([1, 3]);
    // New ids continue above every id handed out before.
    const [next] = await storage.streams.appendEvents([{ userHash: bob.userHash, type: 't', payload: '{}' }]);
    expect(next!.id).toBe(5);
    await storage.close();
  });

  it('counts on from the stored messages when a crash left their counters unwritten', async () => {
    const file = freshFile();
    // Counters written back only at close: this one never closes, as if killed.
    const crashed = new SqliteStorage({ file, countersSaveMs: 3_600_000 });
    const bob = { ...alice, userHash: 'user-bob' as UserHash, username: 'bob', usernameKey: 'bob' };
    await crashed.accounts.createUser(alice);
    await crashed.accounts.createUser(bob);
    const chatId = 'chat-1' as ChatId;
    await crashed.chats.createChat({ chatId, members: [alice.userHash, bob.userHash], state: 'active', createdAt: 1, endedAt: null, endReason: null, lastSeq: 0, lastActivityAt: 1 }, []);
    const send = (storage: SqliteStorage, n: number, sentAt: number) =>
      storage.chats.appendMessage({ chatId, messageId: `msg-${n}` as MessageId, senderUserHash: alice.userHash, senderClientHash: 'client-alice' as ClientHash, clientMessageId: `c${n}`, envelope: { v: 1, parts: [] } as unknown as Envelope, sentAt });
    for (let n = 1; n <= 3; n++) await send(crashed, n, 10 + n);
    const [event] = await crashed.streams.appendEvents([{ userHash: bob.userHash, type: 't', payload: '{}' }]);
    const raw = new Database(file, { readonly: true });
    expect(raw.prepare('SELECT last_seq FROM chats').pluck().get()).toBe(0); // the file is behind
    raw.close();

    const restarted = new SqliteStorage({ file });
    expect(await restarted.chats.getChat(chatId)).toMatchObject({ lastSeq: 3, lastActivityAt: 13 });
    expect(await restarted.streams.streamHead(alice.userHash)).toBe(3);
    expect(await restarted.streams.streamHead(bob.userHash)).toBe(event!.id);
    const next = await send(restarted, 4, 20);
    expect(next).toMatchObject({ status: 'stored', message: { seq: 4 }, streamIds: [4, event!.id + 1] });
    // Purging every message keeps the counters: no seq or stream id is handed out twice.
    await restarted.streams.purgeOlderThan(100);
    await restarted.close();
    const again = new SqliteStorage({ file });
    expect(await again.chats.getChat(chatId)).toMatchObject({ lastSeq: 4 });
    expect(await send(again, 5, 200)).toMatchObject({ message: { seq: 5 }, streamIds: [5, event!.id + 2] });
    await again.close();
    await crashed.close();
  });

  it('keeps the WAL bounded while commits never stop, and loses nothing to checkpoints', async () => {
    const file = freshFile();
    const limit = 256 * 1024;
    const storage = new SqliteStorage({ file, walCheckpointBytes: limit });
    await storage.accounts.createUser(alice);
    const payload = JSON.stringify({ filler: 'x'.repeat(8_000) });
    let written = 0;
    let events = 0;
    // Each batch is sent as soon as the last one is acknowledged, so there is never a quiet
    // moment in which a checkpoint that does not hold commits could catch up. A WAL that never
    // restarts holds at least every byte written; a bounded one soon holds a small fraction.
    const bounded = () => {
      const figures = storage.figures();
      return figures.sqlite_checkpoints >= 3 && written >= 8 * figures.sqlite_wal_high_water_bytes;
    };
    // Written until the WAL shows bounded (a busy machine checkpoints more slowly, so it may take
    // more data), with a cap that only turns a WAL that never restarts into a failure.
    while (!bounded() && written < 1600 * limit) {
      const batch = Array.from({ length: 50 }, () => storage.streams.appendEvents([{ userHash: alice.userHash, type: 't', payload }]));
      await Promise.all(batch);
      written += batch.length * payload.length;
      events += batch.length;
    }
    const figures = storage.figures();
    expect(figures.sqlite_checkpoints).toBeGreaterThanOrEqual(3);
    expect(figures.sqlite_wal_high_water_bytes).toBeLessThanOrEqual(written / 8);
    expect(figures.sqlite_wal_high_water_bytes).toBeGreaterThanOrEqual(limit);
    await storage.close();
    expect(existsSync(`${file}-wal`)).toBe(false); // one self-contained file once stopped

    const reopened = new SqliteStorage({ file });
    expect(await reopened.streams.readStream(alice.userHash, 0, events + 10)).toHaveLength(events);
    await reopened.close();
  });

  it('refuses a database written by a newer schema', () => {
    const file = freshFile();
    const db = new Database(file);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    expect(() => new SqliteStorage({ file })).toThrow(/newer/);
  });
});
