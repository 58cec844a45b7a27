import { expect } from 'vitest';
import type { ChatId, UserHash } from '@omechat/protocol';
import type { ChatRecord, ClientRecord, MessageRecord, NewEvent, Storage, UserRecord } from '../../../ports/storage.js';

/** What each store's contract gets from `storageContract`, which owns the adapter's lifecycle and clock. */
export interface ContractContext {
  /** The adapter under test (a fresh one per test). */
  storage: () => Storage;
  /** Sets the time the adapter's clock reads. */
  setNow: (ms: number) => void;
}

export function hash<T extends string>(value: string): T {
  return value as T;
}

export function user(username: string, overrides: Partial<UserRecord> = {}): UserRecord {
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

export function client(name: string, userHash: UserHash, createdAt = 1_000): ClientRecord {
  return {
    clientHash: hash(`client-${name}`),
    userHash,
    tokenHash: 'ab'.repeat(32),
    deviceName: name,
    createdAt,
    lastSeenAt: null,
  };
}

export function chat(id: string, a: UserHash, b: UserHash): ChatRecord {
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

export function message(
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

export function event(owner: UserRecord, type = 'test', payload = '{}'): NewEvent {
  return { userHash: owner.userHash, type, payload };
}

/** The port promises no order for lists, so compare them sorted. */
export function byKey<T extends Record<K, string>, K extends string>(items: T[], key: K): T[] {
  return [...items].sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0));
}

/** The writes most contract tests start with, on the storage the test has now. */
export function contractWrites(storage: () => Storage) {
  return {
    seed: async (...users: UserRecord[]) => {
      for (const u of users) expect(await storage().accounts.createUser(u)).toBe('created');
    },
    openChat: async (id: string, a: UserRecord, b: UserRecord, events: NewEvent[] = []) => {
      const record = chat(id, a.userHash, b.userHash);
      await storage().chats.createChat(record, events);
      return record;
    },
    send: (msg: Omit<MessageRecord, 'seq'>) => storage().chats.appendMessage(msg),
  };
}
