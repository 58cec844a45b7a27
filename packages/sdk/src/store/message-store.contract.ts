import { describe, it } from 'vitest';
import { messageStoreCases, type StoreUnderTest } from './message-store.cases.js';

/** Runs the MessageStore cases under vitest; each Node implementation's test calls this. */
export function describeMessageStore(name: string, create: () => Promise<StoreUnderTest>, { durable = false } = {}): void {
  describe(`${name} (MessageStore contract)`, () => {
    for (const c of messageStoreCases) if (durable || !c.durable) it(c.name, () => c.run(create));
  });
}
