import type { KeyStore } from './key-store.js';

/**
 * The behaviour every KeyStore shares, as plain async checks so that the same cases run under
 * vitest in Node (key-store.contract.ts) and in a real browser (apps/web's test).
 */
export interface KeyStoreCase {
  name: string;
  run(create: () => Promise<KeyStore>): Promise<void>;
}

function same(actual: unknown, expected: unknown, what: string): void {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

export const keyStoreCases: KeyStoreCase[] = [
  {
    name: 'loads null before anything is saved',
    async run(create) {
      same(await (await create()).load(), null, 'a new store');
    },
  },
  {
    name: 'loads what was saved last',
    async run(create) {
      const store = await create();
      await store.save('{"v":1,"first":true}');
      await store.save('{"v":1,"second":true}');
      same(await store.load(), '{"v":1,"second":true}', 'after two saves');
    },
  },
  {
    name: 'keeps the order of saves made without waiting',
    async run(create) {
      const store = await create();
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.save(`state ${i}`)));
      same(await store.load(), 'state 9', 'after ten saves at once');
    },
  },
  {
    name: 'forgets everything on clear',
    async run(create) {
      const store = await create();
      await store.save('secret');
      await store.clear();
      same(await store.load(), null, 'after clear');
      await store.clear();
    },
  },
];
