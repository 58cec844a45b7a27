import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChatId, ClientHash, MessageId, UserHash } from '@omechat/protocol';
import type { Clock } from '../../../ports/clock.js';
import type {
  ChatRecord,
  ClientRecord,
  MessageRecord,
  NewEvent,
  Storage,
  StoredEvent,
  UserRecord,
} from '../../../ports/storage.js';
import { moderationStorageContract } from './moderation.contract.js';

/**
 * The behaviour every Storage adapter owes the core. Run it from each adapter's test file:
 * `storageContract('sqlite', (clock) => new SqliteStorage({ file, clock }))`.
 * `make` receives the clock the adapter must stamp events with, so retention is testable.
 */
export function storageContract(
  name: string,
  make: (clock: Clock) => Promise<Storage> | Storage,
): void {
  describe(`Storage contract: ${name}`, () => {
    let now = 1_000;
    const clock: Clock = { now: () => now };
    let storage: Storage;
    let closedByTest = false;

    beforeEach(async () => {
      now = 1_000;
      closedByTest = false;
      storage = await make(clock);
    });
    afterEach(async () => {
      if (!closedByTest) await storage.close();
    });

    const alice = user('alice');
    const bob = user('bob');
    const carol = user('carol');
    const seed = async (...users: UserRecord[]) => {
      for (const u of users) expect(await storage.accounts.createUser(u)).toBe('created');
    };
    const openChat = async (id: string, a: UserRecord, b: UserRecord, events: NewEvent[] = []) => {
      const record = chat(id, a.userHash, b.userHash);
      await storage.chats.createChat(record, events);
      return record;
    };
    const send = (msg: Omit<MessageRecord, 'seq'>) => storage.chats.appendMessage(msg);
    const ids = async (who: UserRecord, after = 0) => (await storage.streams.readStream(who.userHash, after, 100)).map((e) => e.id);

    describe('users', () => {
      it('stores a user and finds it by hash and by username key', async () => {
        await seed(alice);
        expect(await storage.accounts.getUser(alice.userHash)).toEqual(alice);
        expect(await storage.accounts.getUserByUsernameKey('alice')).toEqual(alice);
        expect(await storage.accounts.getUser(bob.userHash)).toBeNull();
        expect(await storage.accounts.getUserByUsernameKey('bob')).toBeNull();
      });

      it('refuses a username that differs only in case', async () => {
        await seed(alice);
        const shouting = user('ALICE', { userHash: hash<UserHash>('user-ALICE') });
        expect(shouting.usernameKey).toBe(alice.usernameKey);
        expect(await storage.accounts.createUser(shouting)).toBe('username_taken');
        expect(await storage.accounts.getUser(shouting.userHash)).toBeNull();
        expect(await storage.accounts.getUserByUsernameKey('alice')).toEqual(alice);
      });

      it('refuses a second user with the same hash', async () => {
        await seed(alice);
        const impostor = user('mallory', { userHash: alice.userHash });
        expect(await storage.accounts.createUser(impostor)).toBe('user_exists');
        expect(await storage.accounts.getUserByUsernameKey('mallory')).toBeNull();
        expect(await storage.accounts.getUser(alice.userHash)).toEqual(alice);
      });

      it('replaces the secret hash of an existing user only', async () => {
        await seed(alice);
        expect(await storage.accounts.setSecretHash(alice.userHash, '$argon2id$rotated')).toBe(true);
        expect(await storage.accounts.getUser(alice.userHash)).toEqual({
          ...alice,
          secretHash: '$argon2id$rotated',
        });
        expect(await storage.accounts.setSecretHash(bob.userHash, '$argon2id$x')).toBe(false);
        expect(await storage.accounts.getUser(bob.userHash)).toBeNull();
      });
    });

    describe('clients', () => {
      it('registers a device only for an existing user, once', async () => {
        const phone = client('phone', alice.userHash);
        expect(await storage.accounts.createClient(phone)).toBe('no_user');
        expect(await storage.accounts.getClient(phone.clientHash)).toBeNull();

        await seed(alice);
        expect(await storage.accounts.createClient(phone)).toBe('created');
        expect(await storage.accounts.getClient(phone.clientHash)).toEqual(phone);
        expect(await storage.accounts.createClient({ ...phone, tokenHash: 'ff'.repeat(32) })).toBe(
          'client_exists',
        );
        expect(await storage.accounts.getClient(phone.clientHash)).toEqual(phone);
      });

      it("lists only the user's own devices", async () => {
        await seed(alice, bob);
        const devices = [client('phone', alice.userHash), client('laptop', alice.userHash, 2)];
        for (const c of [...devices, client('bobs-phone', bob.userHash)]) {
          await storage.accounts.createClient(c);
        }
        expect(byKey(await storage.accounts.listClients(alice.userHash), 'clientHash')).toEqual(
          byKey(devices, 'clientHash'),
        );
        expect(await storage.accounts.listClients(carol.userHash)).toEqual([]);
      });

      it('records when a device was last seen', async () => {
        await seed(alice);
        const phone = client('phone', alice.userHash);
        await storage.accounts.createClient(phone);
        await storage.accounts.touchClient(phone.clientHash, 5_000);
        expect(await storage.accounts.getClient(phone.clientHash)).toEqual({ ...phone, lastSeenAt: 5_000 });
        await expect(storage.accounts.touchClient(hash('nobody'), 5_000)).resolves.toBeUndefined();
      });

      it('revokes a device', async () => {
        await seed(alice);
        const [phone, laptop] = [client('phone', alice.userHash), client('laptop', alice.userHash)];
        await storage.accounts.createClient(phone);
        await storage.accounts.createClient(laptop);
        expect(await storage.accounts.deleteClient(phone.clientHash)).toBe(true);
        expect(await storage.accounts.deleteClient(phone.clientHash)).toBe(false);
        expect(await storage.accounts.getClient(phone.clientHash)).toBeNull();
        expect(await storage.accounts.listClients(alice.userHash)).toEqual([laptop]);
      });
    });

    describe('deleteUser', () => {
      it('erases the user with their devices, cursors and events; the peers keep their chats, ended ones included', async () => {
        await seed(alice, bob, carol);
        const devices = [client('phone', alice.userHash), client('laptop', alice.userHash)];
        for (const c of devices) await storage.accounts.createClient(c);
        await storage.accounts.createClient(client('bobs-phone', bob.userHash));
        const withBob = await openChat('chat-ab', alice, bob, [event(alice), event(bob)]);
        const withCarol = await openChat('chat-ca', carol, alice);
        const unrelated = await openChat('chat-bc', bob, carol);
        await send(message(withBob, alice, 'm1'));
        await send(message(withCarol, carol, 'm1'));
        await send(message(unrelated, bob, 'm1'));
        await storage.chats.advanceCursor(withBob.chatId, bob.userHash, 'read', 1, []);
        await storage.streams.appendEvents([event(alice), event(carol)]);

        await storage.accounts.deleteUser(carol.userHash, 5_000); // carol goes first: chat-ca then has nobody left once alice goes
        const erased = await storage.accounts.deleteUser(alice.userHash, 6_000);

        expect([...erased].sort()).toEqual(devices.map((c) => c.clientHash).sort());
        expect(await storage.accounts.getUser(alice.userHash)).toBeNull();
        expect(await storage.accounts.getUserByUsernameKey('alice')).toBeNull();
        expect(await storage.accounts.listClients(alice.userHash)).toEqual([]);
        for (const c of devices) expect(await storage.accounts.getClient(c.clientHash)).toBeNull();
        // Her own events are gone (messages in chats a peer keeps stay, under the peer's stream).
        expect((await storage.streams.readStream(alice.userHash, 0, 100)).filter((e) => !('message' in e))).toEqual([]);
        expect(await storage.chats.getChat(withCarol.chatId)).toBeNull();
        expect(await storage.chats.getMessages(withCarol.chatId, 0, 100)).toEqual([]);
        expect(await storage.chats.getCursors(withCarol.chatId)).toEqual([]);
        // Bob keeps the chat with alice, its messages and his own cursor (evidence he may report).
        expect(await storage.chats.getChat(withBob.chatId)).toMatchObject({ members: [alice.userHash, bob.userHash] });
        expect(await storage.chats.getMessages(withBob.chatId, 0, 100)).toHaveLength(1);
        expect((await storage.chats.getCursors(withBob.chatId)).map((c) => c.userHash)).toEqual([bob.userHash]);
        expect((await storage.chats.listChats(bob.userHash)).map((c) => c.chatId).sort()).toEqual(['chat-ab', 'chat-bc']);

        // Everything that was never the deleted user's stays.
        expect(await storage.accounts.getUser(bob.userHash)).toEqual(bob);
        expect(await storage.accounts.listClients(bob.userHash)).toHaveLength(1);
        expect(await storage.chats.getMessages(unrelated.chatId, 1, 1)).toHaveLength(1);
        // Bob keeps his match event, alice's message in the chat he keeps, and his chat with Carol's message.
        expect(await storage.streams.readStream(bob.userHash, 0, 100)).toHaveLength(3);
      });

      it('frees the username and tolerates an unknown user', async () => {
        await seed(alice);
        await storage.accounts.deleteUser(alice.userHash, 1);
        expect(await storage.accounts.deleteUser(alice.userHash, 2)).toEqual([]);
        expect(await storage.accounts.createUser(user('Alice'))).toBe('created');
      });
    });

    describe('chats', () => {
      it('creates a chat and its events together', async () => {
        await seed(alice, bob);
        now = 7_000;
        const found = [event(alice, 'match.found'), event(bob, 'match.found')];
        const record = chat('chat-ab', alice.userHash, bob.userHash);
        const stored = await storage.chats.createChat(record, found);

        expect(stored.map(({ id: _, ...rest }) => rest)).toEqual(
          found.map((e) => ({ ...e, createdAt: 7_000 })),
        );
        expect(await storage.chats.getChat(record.chatId)).toEqual(record);
        expect(await storage.streams.readStream(alice.userHash, 0, 10)).toEqual([stored[0]]);
        expect(await storage.streams.readStream(bob.userHash, 0, 10)).toEqual([stored[1]]);
        expect(await storage.chats.getChat(hash('chat-none'))).toBeNull();
      });

      it('rejects a chat id that exists and then appends no events', async () => {
        await seed(alice, bob, carol);
        await openChat('chat-1', alice, bob);
        await expect(
          storage.chats.createChat(chat('chat-1', carol.userHash, bob.userHash), [event(carol)]),
        ).rejects.toThrow();
        expect(await storage.streams.streamHead(carol.userHash)).toBe(0);
        expect(await storage.streams.readStream(carol.userHash, 0, 10)).toEqual([]);
        expect((await storage.chats.getChat(hash('chat-1')))?.members).toEqual([
          alice.userHash,
          bob.userHash,
        ]);
      });

      it('starts both cursors at zero', async () => {
        await seed(alice, bob);
        const record = await openChat('chat-ab', alice, bob);
        expect(byKey(await storage.chats.getCursors(record.chatId), 'userHash')).toEqual([
          { chatId: record.chatId, userHash: alice.userHash, deliveredSeq: 0, readSeq: 0 },
          { chatId: record.chatId, userHash: bob.userHash, deliveredSeq: 0, readSeq: 0 },
        ]);
        expect(await storage.chats.getCursors(hash('chat-none'))).toEqual([]);
      });

      it("lists the chats a user is in, in either member's place", async () => {
        await seed(alice, bob, carol);
        const first = await openChat('chat-ab', alice, bob);
        const second = await openChat('chat-ca', carol, alice);
        await openChat('chat-bc', bob, carol);
        expect(byKey(await storage.chats.listChats(alice.userHash), 'chatId')).toEqual([first, second]);
        expect(await storage.chats.listChats(hash('user-nobody'))).toEqual([]);
      });

      it('knows whether two users share an active chat, in either order', async () => {
        await seed(alice, bob, carol);
        const record = await openChat('chat-ab', alice, bob);
        expect(await storage.chats.hasActiveChat(alice.userHash, bob.userHash)).toBe(true);
        expect(await storage.chats.hasActiveChat(bob.userHash, alice.userHash)).toBe(true);
        expect(await storage.chats.hasActiveChat(alice.userHash, carol.userHash)).toBe(false);
        await storage.chats.endChat(record.chatId, 'left', 2_000, []);
        expect(await storage.chats.hasActiveChat(alice.userHash, bob.userHash)).toBe(false);
      });

      it('ends a chat once, with its events', async () => {
        await seed(alice, bob);
        const record = await openChat('chat-ab', alice, bob);
        const ended = [event(alice, 'chat.ended'), event(bob, 'chat.ended')];
        const stored = await storage.chats.endChat(record.chatId, 'blocked', 2_000, ended);

        expect(stored?.map((e) => e.userHash)).toEqual([alice.userHash, bob.userHash]);
        expect(await storage.chats.getChat(record.chatId)).toEqual({
          ...record,
          state: 'ended',
          endedAt: 2_000,
          endReason: 'blocked',
        });
        const lastId = await storage.streams.streamHead(alice.userHash);
        expect(await storage.chats.endChat(record.chatId, 'left', 3_000, ended)).toBeNull();
        expect(await storage.streams.streamHead(alice.userHash)).toBe(lastId);
        expect((await storage.chats.getChat(record.chatId))?.endReason).toBe('blocked');
        expect(await storage.chats.endChat(hash('chat-none'), 'left', 3_000, ended)).toBeNull();
      });
    });

    describe('messages', () => {
      it('numbers messages 1, 2, 3 within each chat independently', async () => {
        await seed(alice, bob, carol);
        const ab = await openChat('chat-ab', alice, bob);
        const bc = await openChat('chat-bc', bob, carol);
        const seqs: number[] = [];
        for (const [record, sender, id] of [
          [ab, alice, 'a1'],
          [bc, bob, 'b1'],
          [ab, bob, 'a2'],
          [ab, alice, 'a3'],
          [bc, carol, 'b2'],
        ] as const) {
          const result = await send(message(record, sender, id));
          seqs.push(result.status === 'stored' ? result.message.seq : -1);
        }
        expect(seqs).toEqual([1, 1, 2, 3, 2]);
        expect((await storage.chats.getChat(ab.chatId))?.lastSeq).toBe(3);
        expect((await storage.chats.getChat(bc.chatId))?.lastSeq).toBe(2);
      });

      it('stores the message once, in both members\' streams, and moves the chat forward', async () => {
        await seed(alice, bob);
        const record = await openChat('chat-ab', alice, bob, [event(alice), event(bob), event(bob)]);
        now = 9_000;
        const msg = message(record, alice, 'hello', 5_000);
        const result = await send(msg);

        // The next id of each member's stream, in member order.
        expect(result).toEqual({ status: 'stored', message: { ...msg, seq: 1 }, streamIds: [2, 3] });
        expect(await storage.chats.getMessages(record.chatId, 1, 1)).toEqual([{ ...msg, seq: 1 }]);
        expect(await storage.chats.getChat(record.chatId)).toEqual({
          ...record,
          lastSeq: 1,
          lastActivityAt: 5_000,
        });
        expect(await storage.streams.readStream(bob.userHash, 2, 10)).toEqual([{ id: 3, userHash: bob.userHash, message: { ...msg, seq: 1 } }]);
        expect(await storage.streams.readStream(alice.userHash, 1, 10)).toEqual([{ id: 2, userHash: alice.userHash, message: { ...msg, seq: 1 } }]);
        expect(await storage.streams.streamHead(bob.userHash)).toBe(3);
      });

      it('merges events and messages of every chat into one stream, in id order', async () => {
        await seed(alice, bob, carol);
        const ab = await openChat('chat-ab', alice, bob, [event(bob, 'match.found')]);
        const cb = await openChat('chat-cb', carol, bob, [event(bob, 'match.found')]);
        await send(message(ab, alice, 'a1'));
        await send(message(cb, carol, 'c1'));
        await storage.streams.appendEvents([event(bob, 'x')]);
        await send(message(ab, bob, 'b1'));
        const kinds = (await storage.streams.readStream(bob.userHash, 0, 100)).map((e) => ('message' in e ? e.message.clientMessageId : e.type));
        expect(kinds).toEqual(['match.found', 'match.found', 'a1', 'c1', 'x', 'b1']);
        expect(await ids(bob)).toEqual([1, 2, 3, 4, 5, 6]);
        // Paging: after an id, at most `limit`.
        expect((await storage.streams.readStream(bob.userHash, 2, 2)).map((e) => e.id)).toEqual([3, 4]);
        expect(await storage.streams.readStream(bob.userHash, 0, 0)).toEqual([]);
      });

      it('ignores the seq of the given record', async () => {
        await seed(alice, bob);
        const record = await openChat('chat-ab', alice, bob);
        const withSeq: MessageRecord = { ...message(record, alice, 'x'), seq: 42 };
        const result = await send(withSeq);
        expect(result.status === 'stored' && result.message.seq).toBe(1);
        expect(await storage.chats.getMessages(record.chatId, 42, 42)).toEqual([]);
      });

      it('answers a retry with the first record and stores nothing new', async () => {
        await seed(alice, bob);
        const record = await openChat('chat-ab', alice, bob);
        const msg = message(record, alice, 'retry-me');
        const first = await send(msg);
        const lastId = await storage.streams.streamHead(bob.userHash);

        const retry = {
          ...message(record, alice, 'retry-me', 8_000),
          messageId: hash<MessageId>('msg-other'),
        };
        expect(await send(retry)).toEqual({
          status: 'duplicate',
          message: { ...msg, seq: 1 },
        });
        expect(first.status).toBe('stored');
        expect(await storage.streams.streamHead(bob.userHash)).toBe(lastId);
        expect(await storage.chats.getMessages(record.chatId, 0, 100)).toEqual([{ ...msg, seq: 1 }]);
        expect((await storage.chats.getChat(record.chatId))?.lastSeq).toBe(1);
      });

      it('stores a retry sent at the same instant as its original once', async () => {
        await seed(alice, bob);
        const record = await openChat('chat-ab', alice, bob);
        const [first, retry, other] = await Promise.all([
          send(message(record, alice, 'twice')),
          send({ ...message(record, alice, 'twice'), messageId: hash<MessageId>('msg-again') }),
          send(message(record, bob, 'other')),
        ]);
        expect(first.status).toBe('stored');
        expect(retry).toEqual({ status: 'duplicate', message: first.status === 'stored' ? first.message : null });
        expect(other.status === 'stored' && other.message.seq).toBe(2);
        expect((await storage.chats.getMessages(record.chatId, 0, 100)).map((m) => m.clientMessageId)).toEqual(['twice', 'other']);
      });

      it('treats the same client message id from another device or chat as new', async () => {
        await seed(alice, bob, carol);
        const ab = await openChat('chat-ab', alice, bob);
        const ac = await openChat('chat-ac', alice, carol);
        await send(message(ab, alice, 'same'));
        const otherDevice = {
          ...message(ab, alice, 'same'),
          senderClientHash: hash<ClientHash>('client-alice-2'),
        };
        expect((await send(otherDevice)).status).toBe('stored');
        expect((await send(message(ac, alice, 'same'))).status).toBe('stored');
        expect((await send(message(ab, bob, 'same'))).status).toBe('stored');
        expect((await storage.chats.getChat(ab.chatId))?.lastSeq).toBe(3);
      });

      it('refuses messages to an ended chat, yet acks a retry of one stored before', async () => {
        await seed(alice, bob);
        const record = await openChat('chat-ab', alice, bob);
        const early = message(record, alice, 'early');
        await send(early);
        await storage.chats.endChat(record.chatId, 'left', 2_000, []);
        const lastId = await storage.streams.streamHead(alice.userHash);

        expect(await send(message(record, bob, 'late'))).toEqual({
          status: 'chat_ended',
        });
        expect(await send(early)).toEqual({ status: 'duplicate', message: { ...early, seq: 1 } });
        expect(await storage.chats.getMessages(record.chatId, 0, 100)).toHaveLength(1);
        expect(await storage.streams.streamHead(alice.userHash)).toBe(lastId);
      });

      it('refuses messages to a chat that does not exist', async () => {
        const ghost = chat('chat-ghost', alice.userHash, bob.userHash);
        expect(await send(message(ghost, alice, 'x'))).toEqual({ status: 'no_chat' });
        expect(await storage.streams.streamHead(bob.userHash)).toBe(0);
      });

      it('returns the messages of a seq range, ascending, inclusive at both ends', async () => {
        await seed(alice, bob, carol);
        const record = await openChat('chat-ab', alice, bob);
        const other = await openChat('chat-bc', bob, carol);
        for (const id of ['1', '2', '3', '4', '5']) await send(message(record, alice, id));
        await send(message(other, bob, 'x'));
        const seqsOf = async (from: number, to: number) =>
          (await storage.chats.getMessages(record.chatId, from, to)).map((m) => m.seq);

        expect(await seqsOf(2, 4)).toEqual([2, 3, 4]);
        expect(await seqsOf(4, 100)).toEqual([4, 5]);
        expect(await seqsOf(0, 1)).toEqual([1]);
        expect(await seqsOf(3, 3)).toEqual([3]);
        expect(await seqsOf(6, 10)).toEqual([]);
        expect(await seqsOf(4, 2)).toEqual([]);
        expect(await storage.chats.getMessages(hash('chat-none'), 0, 100)).toEqual([]);
      });
    });

    describe('cursors', () => {
      it('raises a cursor, never lowers it, and appends events only when it moved', async () => {
        await seed(alice, bob);
        const record = await openChat('chat-ab', alice, bob);
        const { chatId } = record;
        const start = await storage.streams.streamHead(alice.userHash);
        const bobMoves = (kind: 'delivered' | 'read', seq: number) =>
          storage.chats.advanceCursor(chatId, bob.userHash, kind, seq, [event(alice)]);
        const cursors = async () => byKey(await storage.chats.getCursors(chatId), 'userHash');
        const cursor = (who: UserRecord, deliveredSeq: number, readSeq: number) => ({
          chatId,
          userHash: who.userHash,
          deliveredSeq,
          readSeq,
        });

        expect(await bobMoves('delivered', 3)).toEqual([expect.objectContaining({ userHash: alice.userHash, id: start + 1 })]);
        expect(await bobMoves('delivered', 2)).toBeNull();
        expect(await bobMoves('delivered', 3)).toBeNull();
        expect(await cursors()).toEqual([cursor(alice, 0, 0), cursor(bob, 3, 0)]);
        expect(await storage.streams.streamHead(alice.userHash)).toBe(start + 1);

        expect(await bobMoves('read', 2)).toHaveLength(1);
        expect(await cursors()).toEqual([cursor(alice, 0, 0), cursor(bob, 3, 2)]);
        expect(await storage.streams.streamHead(alice.userHash)).toBe(start + 2);
      });

      it('moves nothing for a stranger to the chat or an unknown chat', async () => {
        await seed(alice, bob, carol);
        const { chatId } = await openChat('chat-ab', alice, bob);
        const moves = (chat: ChatId, who: UserRecord) =>
          storage.chats.advanceCursor(chat, who.userHash, 'read', 1, [event(alice)]);
        expect(await moves(chatId, carol)).toBeNull();
        expect(await moves(hash('chat-none'), bob)).toBeNull();
        expect(await storage.chats.getCursors(chatId)).toHaveLength(2);
        expect(await storage.streams.streamHead(alice.userHash)).toBe(0);
      });
    });

    describe('streams', () => {
      it('numbers each user\'s stream on its own, 1, 2, 3, in append order', async () => {
        expect(await storage.streams.streamHead(alice.userHash)).toBe(0);
        expect(await storage.streams.appendEvents([])).toEqual([]);
        const first = await storage.streams.appendEvents([event(alice), event(bob), event(alice)]);
        const second = await storage.streams.appendEvents([event(carol), event(alice)]);
        expect([...first, ...second].map((e) => [e.userHash, e.id])).toEqual([
          [alice.userHash, 1],
          [bob.userHash, 1],
          [alice.userHash, 2],
          [carol.userHash, 1],
          [alice.userHash, 3],
        ]);
        expect(await storage.streams.streamHead(alice.userHash)).toBe(3);
        expect(await storage.streams.readStream(alice.userHash, 0, 10)).toEqual([first[0], first[2], second[1]]);
      });

      it('pages through one user\'s stream after a cursor', async () => {
        const mine: StoredEvent[] = [];
        for (let i = 0; i < 5; i++) {
          const [a] = await storage.streams.appendEvents([event(alice, 'test', `{"n":${i}}`), event(bob)]);
          mine.push(a!);
        }
        const page1 = await storage.streams.readStream(alice.userHash, 0, 2);
        const page2 = await storage.streams.readStream(alice.userHash, page1.at(-1)!.id, 2);
        const page3 = await storage.streams.readStream(alice.userHash, page2.at(-1)!.id, 2);
        expect([page1, page2, page3]).toEqual([mine.slice(0, 2), mine.slice(2, 4), mine.slice(4)]);
        expect(await storage.streams.readStream(alice.userHash, page3.at(-1)!.id, 2)).toEqual([]);
      });

      it('never reuses an id, even after the newest events are purged', async () => {
        const [old] = await storage.streams.appendEvents([event(alice)]);
        now = 2_000;
        await storage.streams.purgeOlderThan(3_000);
        expect(await storage.streams.streamHead(alice.userHash)).toBe(old!.id);
        const [next] = await storage.streams.appendEvents([event(alice)]);
        expect(next!.id).toBe(old!.id + 1);
      });
    });

    describe('purgeOlderThan', () => {
      it('deletes messages sent and events created before the cut-off', async () => {
        await seed(alice, bob);
        const record = await openChat('chat-ab', alice, bob);
        now = 100;
        await send(message(record, alice, 'a', 100));
        await storage.streams.appendEvents([event(bob)]);
        await send(message(record, alice, 'b', 200));
        now = 300;
        await send(message(record, alice, 'c', 300));
        await storage.streams.appendEvents([event(bob)]);

        expect(await storage.streams.purgeOlderThan(250)).toEqual({ messages: 2, events: 1 });
        expect((await storage.chats.getMessages(record.chatId, 0, 100)).map((m) => m.seq)).toEqual([3]);
        const kept = await storage.streams.readStream(bob.userHash, 0, 10);
        expect(kept.map((e) => ('message' in e ? e.message.sentAt : e.createdAt))).toEqual([300, 300]);
        // Strictly before: what was sent or created at the cut-off itself stays.
        expect(await storage.streams.purgeOlderThan(300)).toEqual({ messages: 0, events: 0 });

        // The chat keeps counting: a seq is never handed out twice.
        const next = await send(message(record, alice, 'd', 400));
        expect(next.status === 'stored' && next.message.seq).toBe(4);
      });
    });

    describe('isolation', () => {
      it('hands out copies and keeps its own', async () => {
        await seed(alice, bob);
        const input = user('dave');
        await storage.accounts.createUser(input);
        input.username = 'changed';
        expect((await storage.accounts.getUser(input.userHash))?.username).toBe('dave');

        const got = (await storage.accounts.getUser(alice.userHash))!;
        got.secretHash = 'tampered';
        expect(await storage.accounts.getUser(alice.userHash)).toEqual(alice);

        const phone = client('phone', alice.userHash);
        await storage.accounts.createClient(phone);
        (await storage.accounts.listClients(alice.userHash))[0]!.tokenHash = 'tampered';
        expect(await storage.accounts.getClient(phone.clientHash)).toEqual(phone);

        const record = await openChat('chat-ab', alice, bob);
        const listed = (await storage.chats.listChats(alice.userHash))[0]!;
        listed.members[0] = carol.userHash;
        listed.lastSeq = 99;
        expect(await storage.chats.getChat(record.chatId)).toEqual(record);

        const msg = message(record, alice, 'm');
        const sent = await send(msg);
        msg.envelope.parts[0]!.ciphertext = 'input-tampered';
        if (sent.status === 'stored') sent.message.envelope.parts[0]!.ciphertext = 'tampered';
        const [stored] = await storage.chats.getMessages(record.chatId, 1, 1);
        expect(stored?.envelope).toEqual(message(record, alice, 'm').envelope);
        stored!.envelope.parts.length = 0;
        expect((await storage.chats.getMessages(record.chatId, 1, 1))[0]?.envelope.parts).toHaveLength(1);

        (await storage.chats.getCursors(record.chatId))[0]!.readSeq = 50;
        expect((await storage.chats.getCursors(record.chatId)).map((c) => c.readSeq)).toEqual([0, 0]);

        const [ev] = await storage.streams.appendEvents([event(alice)]);
        ev!.type = 'tampered';
        const events = (await storage.streams.readStream(alice.userHash, 0, 10)).filter((e) => 'type' in e);
        expect(events.map((e) => e.type)).toEqual(['test']);
      });
    });

    describe('end-to-end keys', () => {
      const key = (c: string) => c.repeat(43);
      const identity = { signingPub: key('s'), dhPub: key('d') };
      const spk = (id: number) => ({ id, pub: key('p'), signature: 'g'.repeat(86) });
      const phone = client('alice-phone', alice.userHash);
      const laptop = client('alice-laptop', alice.userHash, 2_000);

      it('keeps a device identity fixed and replaces its signed prekey', async () => {
        await seed(alice);
        await storage.accounts.createClient(phone);
        expect(await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(1))).toBe('ok');
        expect(await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(2))).toBe('ok');
        expect(await storage.keys.setDeviceKeys(phone.clientHash, { ...identity, dhPub: key('x') }, spk(3))).toBe('identity_mismatch');
        expect(await storage.keys.setDeviceKeys(hash<ClientHash>('nobody'), identity, spk(1))).toBe('no_client');
        const [bundle] = await storage.keys.takeBundles(alice.userHash);
        expect(bundle?.bundle.signedPrekey.id).toBe(2);
        expect(await storage.keys.listDeviceIdentities(alice.userHash)).toEqual([{ clientHash: phone.clientHash, identity }]);
      });

      it('hands out each one-time prekey once, per device, lowest id first', async () => {
        await seed(alice);
        await storage.accounts.createClient(phone);
        await storage.accounts.createClient(laptop);
        await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(1));
        await storage.keys.setDeviceKeys(laptop.clientHash, { signingPub: key('t'), dhPub: key('e') }, spk(1));
        expect(await storage.keys.addOneTimePrekeys(phone.clientHash, [{ id: 7, pub: key('a') }, { id: 3, pub: key('b') }])).toBe(2);
        expect(await storage.keys.addOneTimePrekeys(phone.clientHash, [{ id: 3, pub: key('z') }])).toBe(2);
        const first = await storage.keys.takeBundles(alice.userHash);
        expect(first.map((d) => d.clientHash)).toEqual([phone.clientHash, laptop.clientHash]);
        expect(first[0]!.bundle.oneTimePrekey).toEqual({ id: 3, pub: key('b') });
        expect(first[1]!.bundle.oneTimePrekey).toBeUndefined();
        expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.oneTimePrekey?.id).toBe(7);
        expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.oneTimePrekey).toBeUndefined();
        expect(await storage.keys.countOneTimePrekeys(phone.clientHash)).toBe(0);
      });

      const kem = (id: number, c = 'k') => ({ id, pub: c.repeat(1579), signature: 'h'.repeat(86) });

      it('E2E v2: hands out each one-time KEM prekey once, then the last-resort one, which stays', async () => {
        await seed(alice);
        await storage.accounts.createClient(phone);
        await storage.accounts.createClient(laptop);
        expect(await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(1), kem(1, 'L'))).toBe('ok');
        await storage.keys.setDeviceKeys(laptop.clientHash, { signingPub: key('t'), dhPub: key('e') }, spk(1));
        expect(await storage.keys.countKemPrekeys(phone.clientHash)).toEqual({ oneTime: 0, hasLastResort: true });
        expect(await storage.keys.countKemPrekeys(laptop.clientHash)).toEqual({ oneTime: 0, hasLastResort: false });
        expect(await storage.keys.addOneTimeKemPrekeys(phone.clientHash, [kem(9, 'a'), kem(4, 'b')])).toBe(2);
        expect(await storage.keys.addOneTimeKemPrekeys(phone.clientHash, [kem(4, 'z')])).toBe(2);
        expect(await storage.keys.addOneTimeKemPrekeys(hash<ClientHash>('nobody'), [kem(1)])).toBe(0);
        // A limit is counted against what the device holds: only one of these two fits under 3.
        expect(await storage.keys.addOneTimeKemPrekeys(phone.clientHash, [kem(20, 'c'), kem(21, 'd')], 3)).toBe(3);
        expect(await storage.keys.addOneTimeKemPrekeys(phone.clientHash, [kem(22, 'e')], 3)).toBe(3);
        expect(await storage.keys.addOneTimePrekeys(phone.clientHash, [{ id: 1, pub: key('a') }, { id: 2, pub: key('b') }], 1)).toBe(1);
        const first = await storage.keys.takeBundles(alice.userHash);
        expect(first[0]!.bundle.kemPrekey).toEqual(kem(4, 'b'));
        expect(first[1]!.bundle.kemPrekey).toBeUndefined(); // a v1 device's bundle
        expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.kemPrekey).toEqual(kem(9, 'a'));
        expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.kemPrekey).toEqual(kem(20, 'c'));
        expect(await storage.keys.countKemPrekeys(phone.clientHash)).toEqual({ oneTime: 0, hasLastResort: true });
        for (let i = 0; i < 2; i++) expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.kemPrekey).toEqual(kem(1, 'L'));
        // An upload without a last-resort KEM prekey keeps the one held; a new one replaces it.
        await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(2));
        expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.kemPrekey).toEqual(kem(1, 'L'));
        await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(3), kem(2, 'M'));
        expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.kemPrekey).toEqual(kem(2, 'M'));
        await storage.accounts.deleteClient(phone.clientHash);
        expect(await storage.keys.countKemPrekeys(phone.clientHash)).toEqual({ oneTime: 0, hasLastResort: false });
      });

      it('forgets a device\'s keys with the device and with its account', async () => {
        await seed(alice);
        await storage.accounts.createClient(phone);
        await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(1));
        await storage.keys.addOneTimePrekeys(phone.clientHash, [{ id: 1, pub: key('a') }]);
        await storage.accounts.deleteClient(phone.clientHash);
        expect(await storage.keys.takeBundles(alice.userHash)).toEqual([]);
        expect(await storage.keys.countOneTimePrekeys(phone.clientHash)).toBe(0);
        await storage.accounts.createClient(laptop);
        await storage.keys.setDeviceKeys(laptop.clientHash, identity, spk(1));
        await storage.accounts.deleteUser(alice.userHash, 1);
        expect(await storage.keys.listDeviceIdentities(alice.userHash)).toEqual([]);
      });
    });

    moderationStorageContract({ storage: () => storage });

    describe('close', () => {
      it('rejects every call after close', async () => {
        await seed(alice);
        closedByTest = true;
        await storage.close();
        await expect(storage.accounts.getUser(alice.userHash)).rejects.toThrow(Error);
        await expect(storage.accounts.createUser(bob)).rejects.toThrow(Error);
        await expect(storage.streams.appendEvents([event(alice)])).rejects.toThrow(Error);
        await expect(storage.streams.streamHead(alice.userHash)).rejects.toThrow(Error);
      });
    });
  });
}

function hash<T extends string>(value: string): T {
  return value as T;
}

function user(username: string, overrides: Partial<UserRecord> = {}): UserRecord {
  return {
    userHash: hash(`user-${username.toLowerCase()}`),
    username,
    usernameKey: username.toLowerCase(),
    age: 30,
    secretHash: `$argon2id$v=19$m=65536,t=3,p=4$${username}`,
    createdAt: 1_000,
    ...overrides,
  };
}

function client(name: string, userHash: UserHash, createdAt = 1_000): ClientRecord {
  return {
    clientHash: hash(`client-${name}`),
    userHash,
    tokenHash: 'ab'.repeat(32),
    deviceName: name,
    createdAt,
    lastSeenAt: null,
  };
}

function chat(id: string, a: UserHash, b: UserHash): ChatRecord {
  return {
    chatId: hash<ChatId>(id),
    members: [a, b],
    state: 'active',
    createdAt: 1_000,
    endedAt: null,
    endReason: null,
    lastSeq: 0,
    lastActivityAt: 1_000,
  };
}

function message(
  record: ChatRecord,
  sender: UserRecord,
  clientMessageId: string,
  sentAt = 1_500,
): Omit<MessageRecord, 'seq'> {
  const peer = record.members.find((m) => m !== sender.userHash)!;
  return {
    chatId: record.chatId,
    messageId: hash(`msg-${record.chatId}-${sender.username}-${clientMessageId}`),
    senderUserHash: sender.userHash,
    senderClientHash: hash(`client-${sender.username}`),
    clientMessageId,
    envelope: {
      v: 1,
      parts: [{ to: hash(`client-${peer}`), header: 'aGVhZGVy', ciphertext: 'c2VhbGVk' }],
    },
    sentAt,
  };
}

function event(owner: UserRecord, type = 'test', payload = '{}'): NewEvent {
  return { userHash: owner.userHash, type, payload };
}

/** The port promises no order for lists, so compare them sorted. */
function byKey<T extends Record<K, string>, K extends string>(items: T[], key: K): T[] {
  return [...items].sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0));
}
