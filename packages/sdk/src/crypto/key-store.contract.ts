import { describe, expect, it } from 'vitest';
import type { KeyStore } from './key-store.js';

/** The behaviour every KeyStore shares; each implementation's test runs this suite. */
export function describeKeyStore(name: string, create: () => Promise<KeyStore>): void {
  describe(`${name} (KeyStore contract)`, () => {
    it('loads null before anything is saved', async () => {
      expect(await (await create()).load()).toBeNull();
    });

    it('loads what was saved last', async () => {
      const store = await create();
      await store.save('{"v":1,"first":true}');
      await store.save('{"v":1,"second":true}');
      expect(await store.load()).toBe('{"v":1,"second":true}');
    });

    it('keeps the order of saves made without waiting', async () => {
      const store = await create();
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.save(`state ${i}`)));
      expect(await store.load()).toBe('state 9');
    });

    it('forgets everything on clear', async () => {
      const store = await create();
      await store.save('secret');
      await store.clear();
      expect(await store.load()).toBeNull();
      await store.clear();
    });
  });
}
