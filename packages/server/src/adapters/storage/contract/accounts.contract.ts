import { beforeEach, describe, expect, it } from 'vitest';
import type { UserHash } from '@omechat/protocol';
import type { Storage } from '../../../ports/storage.js';
import { byKey, client, event, hash, message, user, type ContractContext, contractWrites } from './fixtures.js';

/** The accounts (users, clients, deleteUser) part of the Storage contract. */
export function accountsContract(t: ContractContext): void {
  let storage: Storage;
  beforeEach(() => {
    storage = t.storage();
  });
  const alice = user('alice');
  const bob = user('bob');
  const carol = user('carol');
  const { seed, openChat, send } = contractWrites(() => storage);

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
    it('erases a chat once both members are gone: a late send to it finds no chat, and a new user starts a new stream', async () => {
      await seed(alice, bob);
      const record = await openChat('chat-gone', alice, bob, [event(alice)]);
      await send(message(record, alice, 'm1'));
      await storage.accounts.deleteUser(alice.userHash, 2_000);
      await storage.accounts.deleteUser(bob.userHash, 2_000);
      expect(await storage.chats.getChat(record.chatId)).toBeNull();
      expect(await send(message(record, alice, 'm2'))).toEqual({ status: 'no_chat' });
      expect(await storage.streams.streamHead(alice.userHash)).toBe(0);
    });

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
}
