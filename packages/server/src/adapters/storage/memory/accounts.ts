import type { ClientHash, UserHash } from '@omechat/protocol';
import type { AccountStore, ClientRecord, CreateClientResult, CreateUserResult, UserRecord } from '../../../ports/storage.js';
import type { MemoryModeration } from './moderation.js';
import { compare, copy, copyOrNull, type MemoryTables } from './tables.js';

export class MemoryAccounts implements AccountStore {
  constructor(
    private readonly db: MemoryTables,
    private readonly moderation: MemoryModeration,
  ) {}

  async createUser(user: UserRecord): Promise<CreateUserResult> {
    this.db.assertOpen();
    if (this.db.users.has(user.userHash)) return 'user_exists';
    if (this.db.userByKey.has(user.usernameKey)) return 'username_taken';
    this.db.users.set(user.userHash, copy(user));
    this.db.userByKey.set(user.usernameKey, user.userHash);
    return 'created';
  }

  async getUser(userHash: UserHash): Promise<UserRecord | null> {
    this.db.assertOpen();
    return copyOrNull(this.db.users.get(userHash));
  }

  async getUserByUsernameKey(usernameKey: string): Promise<UserRecord | null> {
    this.db.assertOpen();
    const userHash = this.db.userByKey.get(usernameKey);
    return userHash === undefined ? null : copyOrNull(this.db.users.get(userHash));
  }

  async setSecretHash(userHash: UserHash, secretHash: string): Promise<boolean> {
    this.db.assertOpen();
    const user = this.db.users.get(userHash);
    if (!user) return false;
    user.secretHash = secretHash;
    return true;
  }

  async deleteUser(userHash: UserHash, at: number): Promise<ClientHash[]> {
    this.db.assertOpen();
    const user = this.db.users.get(userHash);
    if (user) this.db.userByKey.delete(user.usernameKey);
    this.db.users.delete(userHash);
    const clientHashes: ClientHash[] = [];
    for (const client of this.db.clients.values()) {
      if (client.userHash !== userHash) continue;
      clientHashes.push(client.clientHash);
      this.db.clients.delete(client.clientHash);
      this.db.deviceKeys.delete(client.clientHash);
    }
    for (const chatId of [...(this.db.chatsOf.get(userHash) ?? [])]) {
      const entry = this.db.chats.get(chatId)!;
      const chat = entry.chat;
      const peer = chat.members[0] === userHash ? chat.members[1] : chat.members[0];
      // The peer keeps the chat (evidence they may report); one nobody is left in goes.
      if (this.db.users.has(peer)) {
        entry.cursors.delete(userHash);
        continue;
      }
      this.db.chats.delete(chatId);
      for (const member of chat.members) {
        this.db.chatsOf.get(member)?.delete(chatId);
        const stream = this.db.streams.get(member);
        if (stream) stream.entries = stream.entries.filter((e) => !('message' in e) || e.message.chatId !== chatId);
      }
    }
    this.db.chatsOf.delete(userHash);
    this.db.streams.delete(userHash);
    this.moderation.eraseUser(userHash, at);
    return clientHashes;
  }

  async createClient(client: ClientRecord): Promise<CreateClientResult> {
    this.db.assertOpen();
    if (this.db.clients.has(client.clientHash)) return 'client_exists';
    if (!this.db.users.has(client.userHash)) return 'no_user';
    this.db.clients.set(client.clientHash, copy(client));
    return 'created';
  }

  async getClient(clientHash: ClientHash): Promise<ClientRecord | null> {
    this.db.assertOpen();
    return copyOrNull(this.db.clients.get(clientHash));
  }

  async listClients(userHash: UserHash): Promise<ClientRecord[]> {
    this.db.assertOpen();
    return [...this.db.clients.values()]
      .filter((c) => c.userHash === userHash)
      .sort((a, b) => a.createdAt - b.createdAt || compare(a.clientHash, b.clientHash))
      .map(copy);
  }

  async deleteClient(clientHash: ClientHash): Promise<boolean> {
    this.db.assertOpen();
    this.db.deviceKeys.delete(clientHash);
    return this.db.clients.delete(clientHash);
  }

  async touchClient(clientHash: ClientHash, at: number): Promise<void> {
    this.db.assertOpen();
    const client = this.db.clients.get(clientHash);
    if (client) client.lastSeenAt = at;
  }
}
