import { beforeEach, describe, expect, it } from 'vitest';
import type { ChatId, ClientHash, MessageId } from '@omechat/protocol';
import type { MessageRecord, Storage, UserRecord } from '../../../ports/storage.js';
import { byKey, chat, event, hash, message, user, type ContractContext , contractWrites } from './fixtures.js';

/** The chats (chats, messages, cursors) part of the Storage contract. */
export function chatsContract(t: ContractContext): void {
  let storage: Storage;
  beforeEach(() => {
    storage = t.storage();
  });
  const alice = user('alice');
  const bob = user('bob');
  const carol = user('carol');
  const { seed, openChat, send } = contractWrites(() => storage);
  const ids = async (who: UserRecord, after = 0) => (await storage.streams.readStream(who.userHash, after, 100)).map((e) => e.id);

  describe('chats', () => {
    it('creates a chat and its events together', async () => {
      await seed(alice, bob);
      t.setNow(7_000);
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
      t.setNow(9_000);
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
}
