import { describe, expect, it } from 'vitest';
import type { MessageStore } from './message-store.js';

/**
 * The behaviour every MessageStore shares; each implementation's test runs this suite.
 * `reopen` gives a second instance over the same place (as after an app restart).
 */
export function describeMessageStore(
  name: string,
  create: () => Promise<{ store: MessageStore; reopen?: () => MessageStore }>,
  { durable = false } = {},
): void {
  describe(`${name} (MessageStore contract)`, () => {
    it('gives back what was put, by chat and seq, leaving out what it never saw', async () => {
      const { store } = await create();
      await store.put('chat-a', 1, 'hello');
      await store.put('chat-a', 2, 'ünïcødé 👋\nline two');
      await store.put('chat-b', 1, 'other chat');
      const found = await store.get('chat-a', [1, 2, 3]);
      expect([...found.entries()].sort()).toEqual([
        [1, 'hello'],
        [2, 'ünïcødé 👋\nline two'],
      ]);
      expect(await store.get('chat-b', [1])).toEqual(new Map([[1, 'other chat']]));
      expect((await store.get('chat-c', [])).size).toBe(0);
    });

    it('keeps every put made without waiting', async () => {
      const { store } = await create();
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.put('chat', i, `m${i}`)));
      expect((await store.get('chat', Array.from({ length: 20 }, (_, i) => i))).size).toBe(20);
    });

    it('forgets everything on clear', async () => {
      const { store } = await create();
      await store.put('chat', 1, 'secret');
      await store.clear();
      expect((await store.get('chat', [1])).size).toBe(0);
      await store.clear();
    });

    // The memory store lives and dies with its instance: nothing to reopen.
    if (!durable) return;
    it('keeps its texts across a reopen', async () => {
      const { store, reopen } = await create();
      await store.put('chat', 7, 'still here');
      const again = reopen!();
      expect(await again.get('chat', [7])).toEqual(new Map([[7, 'still here']]));
      await again.clear();
      expect((await reopen!().get('chat', [7])).size).toBe(0);
    });
  });
}
