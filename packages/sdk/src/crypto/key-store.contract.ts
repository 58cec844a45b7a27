import { describe, it } from 'vitest';
import type { KeyStore } from './key-store.js';
import { keyStoreCases } from './key-store.cases.js';

/** Runs the KeyStore cases under vitest; each Node implementation's test calls this. */
export function describeKeyStore(name: string, create: () => Promise<KeyStore>): void {
  describe(`${name} (KeyStore contract)`, () => {
    for (const c of keyStoreCases) it(c.name, () => c.run(create));
  });
}
