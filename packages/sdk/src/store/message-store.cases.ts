import type { MessageStore } from './message-store.js';

/**
 * The behaviour every MessageStore shares, as plain async checks so that the same cases run
 * under vitest in Node (message-store.contract.ts) and in a real browser (apps/web's test).
 * `reopen` gives a second instance over the same place, as after an app restart.
 */
export type StoreUnderTest = { store: MessageStore; reopen?: () => MessageStore };
export interface MessageStoreCase {
  name: string;
  /** Only for stores that outlive their instance. */
  durable?: boolean;
  run(create: () => Promise<StoreUnderTest>): Promise<void>;
}

function same(actual: unknown, expected: unknown, what: string): void {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)];
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}
const entries = (found: Map<number, string>) => [...found.entries()].sort((x, y) => x[0] - y[0]);

export const messageStoreCases: MessageStoreCase[] = [
  {
    name: 'gives back what was put, by chat and seq, leaving out what it never saw',
    async run(create) {
      const { store } = await create();
      await store.put('chat-a', 1, 'hello');
      await store.put('chat-a', 2, 'ünïcødé 👋\nline two');
      await store.put('chat-b', 1, 'other chat');
      same(entries(await store.get('chat-a', [1, 2, 3])), [[1, 'hello'], [2, 'ünïcødé 👋\nline two']], 'chat-a');
      same(entries(await store.get('chat-b', [1])), [[1, 'other chat']], 'chat-b');
      same((await store.get('chat-c', [])).size, 0, 'an empty request');
    },
  },
  {
    name: 'keeps every put made without waiting',
    async run(create) {
      const { store } = await create();
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.put('chat', i, `m${i}`)));
      same((await store.get('chat', Array.from({ length: 20 }, (_, i) => i))).size, 20, 'texts kept');
    },
  },
  {
    name: 'forgets everything on clear',
    async run(create) {
      const { store } = await create();
      await store.put('chat', 1, 'secret');
      await store.clear();
      same((await store.get('chat', [1])).size, 0, 'texts after clear');
      await store.clear();
    },
  },
  {
    name: 'keeps each chat\'s receipts moving forward only, and who left',
    async run(create) {
      const { store } = await create();
      same(await store.marks('chat'), { deliveredSeq: 0, readSeq: 0, leftByYou: false }, 'an unseen chat');
      await Promise.all([store.putMarks('chat', { deliveredSeq: 3 }), store.putMarks('chat', { readSeq: 2 })]);
      await store.putMarks('chat', { deliveredSeq: 1, readSeq: 1 }); // late and older: ignored
      await store.putMarks('other', { leftByYou: true });
      same(await store.marks('chat'), { deliveredSeq: 3, readSeq: 2, leftByYou: false }, 'marks of chat');
      same(await store.marks('other'), { deliveredSeq: 0, readSeq: 0, leftByYou: true }, 'marks of other');
      await store.clear();
      same(await store.marks('chat'), { deliveredSeq: 0, readSeq: 0, leftByYou: false }, 'marks after clear');
    },
  },
  {
    name: 'keeps its marks across a reopen',
    durable: true,
    async run(create) {
      const { store, reopen } = await create();
      await store.put('chat', 4, 'text');
      await store.putMarks('chat', { readSeq: 4, deliveredSeq: 4 });
      same(await reopen!().marks('chat'), { deliveredSeq: 4, readSeq: 4, leftByYou: false }, 'marks after a reopen');
    },
  },
  {
    name: 'keeps its texts across a reopen, and a clear too',
    durable: true,
    async run(create) {
      const { store, reopen } = await create();
      await store.put('chat', 7, 'still here');
      const again = reopen!();
      same(entries(await again.get('chat', [7])), [[7, 'still here']], 'after a reopen');
      await again.clear();
      same((await reopen!().get('chat', [7])).size, 0, 'after a clear and a reopen');
    },
  },
];
