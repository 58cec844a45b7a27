import { describe, expect, it } from 'vitest';
import type { ChatId, ClientHash, MessageId, UserHash } from '@omechat/protocol';
import { MemoryStorage } from '../adapters/storage/memory/index.js';
import type { MessageRecord } from '../ports/storage.js';
import { BLOCK_OVERHEAD, BLOCK_SIZE, ENTRY_OVERHEAD, MessageCache } from './message-cache.js';

const alice = 'alice_0123456789abcdef' as UserHash;
const bob = 'bob_0123456789abcdefgh' as UserHash;
const chatId = 'chat_0123456789abcdefg' as ChatId;

async function chatWith(messages: number, bodyChars = 100) {
  const storage = new MemoryStorage();
  for (const u of [alice, bob]) {
    await storage.accounts.createUser({ userHash: u, username: u, usernameKey: u, age: 20, secretHash: 'x', createdAt: 0 });
  }
  await storage.chats.createChat(
    { chatId, members: [alice, bob], state: 'active', createdAt: 0, endedAt: null, endReason: null, lastSeq: 0, lastActivityAt: 0 },
    [],
  );
  const stored: MessageRecord[] = [];
  for (let i = 0; i < messages; i++) {
    const result = await storage.chats.appendMessage(
      {
        chatId,
        messageId: `m_${i}_0123456789abcdef` as MessageId,
        senderUserHash: alice,
        senderClientHash: 'phone_0123456789abcdef' as ClientHash,
        clientMessageId: `c${i}`,
        envelope: { v: 1, parts: [{ to: 'bobphone_0123456789ab' as ClientHash, header: 'h', ciphertext: 'x'.repeat(bodyChars) }] },
        sentAt: i,
      },
    );
    if (result.status === 'stored') stored.push(result.message);
  }
  return { storage, stored };
}

describe('MessageCache', () => {
  it('serves a range from whole blocks, hitting RAM the second time', async () => {
    const { storage } = await chatWith(BLOCK_SIZE * 2 + 5);
    const cache = new MessageCache(storage, 10_000_000);
    const first = await cache.range(chatId, 60, 70);
    expect(first.map((m) => m.seq)).toEqual([60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70]);
    expect(cache.misses).toBe(2);
    await cache.range(chatId, 1, BLOCK_SIZE * 2);
    expect(cache.hits).toBe(2);
    expect(cache.hitRate).toBeCloseTo(0.5);
  });

  it('appends new messages to a cached block so reads stay complete', async () => {
    const { storage, stored } = await chatWith(3);
    const cache = new MessageCache(storage, 10_000_000);
    await cache.range(chatId, 1, 3);
    const extra = await storage.chats.appendMessage({ ...stored[0]!, clientMessageId: 'late', messageId: 'late_0123456789abcdefg' as MessageId });
    if (extra.status !== 'stored') throw new Error('not stored');
    cache.append(extra.message);
    expect((await cache.range(chatId, 1, 4)).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(cache.misses).toBe(1);
  });

  it('stays within its byte bound by evicting the least recently used block', async () => {
    const { storage } = await chatWith(BLOCK_SIZE * 4, 1000);
    const cache = new MessageCache(storage, BLOCK_SIZE * 1400 * 2);
    for (let b = 0; b < 4; b++) await cache.range(chatId, b * BLOCK_SIZE + 1, (b + 1) * BLOCK_SIZE);
    expect(cache.bytes).toBeLessThanOrEqual(BLOCK_SIZE * 1400 * 2);
    await cache.range(chatId, BLOCK_SIZE * 3 + 1, BLOCK_SIZE * 3 + 1); // newest block: still cached
    expect(cache.hits).toBe(1);
    await cache.range(chatId, 1, 1); // oldest block: evicted, read again
    expect(cache.misses).toBe(5);
  });

  it('gives back each message exactly as stored, whether appended or loaded from storage', async () => {
    const { storage, stored } = await chatWith(BLOCK_SIZE + 3);
    const loading = new MessageCache(storage, 10_000_000);
    expect(await loading.range(chatId, 1, BLOCK_SIZE + 3)).toEqual(stored);
    const appending = new MessageCache(storage, 10_000_000);
    for (const m of stored) appending.append(m);
    expect(await appending.range(chatId, 1, BLOCK_SIZE + 3)).toEqual(stored);
    expect(await appending.get(chatId, 2)).toEqual(stored[1]);
    expect(appending.misses).toBe(0);
    // A field the schemas would refuse (a quote, non-ASCII) still survives the round trip.
    const odd = { ...stored.at(-1)!, seq: BLOCK_SIZE * 2 + 1, clientMessageId: 'say "hé"\\' };
    appending.append(odd);
    expect(await appending.get(chatId, odd.seq)).toEqual(odd);
  });

  it('counts what its entries cost: their characters and a fixed overhead each', async () => {
    const { storage, stored } = await chatWith(10);
    const cache = new MessageCache(storage, 10_000_000);
    for (const m of stored) cache.append(m);
    const characters = stored.reduce((n, m) => n + JSON.stringify([m.seq, m.messageId, m.senderUserHash, m.senderClientHash, m.clientMessageId, m.sentAt, m.envelope]).length, 0);
    expect(cache.bytes).toBe(BLOCK_OVERHEAD + characters + stored.length * ENTRY_OVERHEAD);
  });
});
