import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChatId, ClientHash } from '@omechat/protocol';
import type { Clock } from '../../../ports/clock.js';
import type { Storage } from '../../../ports/storage.js';
import { accountsContract } from './accounts.contract.js';
import { chatsContract } from './chats.contract.js';
import { event, user } from './fixtures.js';
import { keysContract } from './keys.contract.js';
import { moderationContract } from './moderation.contract.js';
import { streamsContract } from './streams.contract.js';

/**
 * The behaviour every Storage adapter owes the core. It runs one contract per store
 * (`<store>.contract.ts`). Run it from each adapter's test file:
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

    const context = { storage: () => storage, setNow: (ms: number) => void (now = ms) };
    const alice = user('alice');
    const bob = user('bob');

    accountsContract(context);
    chatsContract(context);
    streamsContract(context);
    keysContract(context);
    moderationContract(context);

    describe('close', () => {
      it('rejects every call after close', async () => {
        await storage.accounts.createUser(alice);
        closedByTest = true;
        await storage.close();
        await expect(storage.accounts.getUser(alice.userHash)).rejects.toThrow(Error);
        await expect(storage.accounts.createUser(bob)).rejects.toThrow(Error);
        await expect(storage.streams.appendEvents([event(alice)])).rejects.toThrow(Error);
        await expect(storage.streams.streamHead(alice.userHash)).rejects.toThrow(Error);
        await expect(storage.chats.getChat('chat-x' as ChatId)).rejects.toThrow(Error);
        await expect(storage.keys.countOneTimePrekeys('client-x' as ClientHash)).rejects.toThrow(Error);
        await expect(storage.moderation.addBlock({ blockerUserHash: alice.userHash, blockedUserHash: bob.userHash, createdAt: 1 })).rejects.toThrow(Error);
      });
    });
  });
}

