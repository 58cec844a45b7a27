import { beforeEach, describe, expect, it } from 'vitest';
import type { Storage, StoredEvent } from '../../../ports/storage.js';
import { client, event, message, user, type ContractContext, contractWrites } from './fixtures.js';

/** The streams (events, retention, isolation) part of the Storage contract. */
export function streamsContract(t: ContractContext): void {
  let storage: Storage;
  beforeEach(() => {
    storage = t.storage();
  });
  const alice = user('alice');
  const bob = user('bob');
  const carol = user('carol');
  const { seed, openChat, send } = contractWrites(() => storage);

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

    it('reads the same entries from every cursor, across chats and events, after a purge', async () => {
      await seed(alice, bob, carol);
      const ab = await openChat('chat-ab', alice, bob);
      const ca = await openChat('chat-ca', carol, alice);
      for (let i = 0; i < 24; i++) {
        t.setNow(100 + i);
        await send(message(ab, i % 2 ? alice : bob, `ab-${i}`, 100 + i));
        if (i % 3 === 0) await send(message(ca, carol, `ca-${i}`, 100 + i));
        if (i % 5 === 0) await storage.streams.appendEvents([event(alice)]);
      }
      await storage.streams.purgeOlderThan(104);
      const all = await storage.streams.readStream(alice.userHash, 0, 1_000);
      expect(all.map((e) => e.id)).toEqual([...all.map((e) => e.id)].sort((x, y) => x - y));
      expect(all.filter((e) => 'message' in e && e.message.chatId === ca.chatId)).toHaveLength(6);
      for (let cursor = 0; cursor <= all.at(-1)!.id; cursor++) {
        expect(await storage.streams.readStream(alice.userHash, cursor, 5)).toEqual(all.filter((e) => e.id > cursor).slice(0, 5));
      }
    });

    it('never reuses an id, even after the newest events are purged', async () => {
      const [old] = await storage.streams.appendEvents([event(alice)]);
      t.setNow(2_000);
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
      t.setNow(100);
      await send(message(record, alice, 'a', 100));
      await storage.streams.appendEvents([event(bob)]);
      await send(message(record, alice, 'b', 200));
      t.setNow(300);
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
}
