// Runs the SDK's store contracts against the IndexedDB stores in a real browser; the e2e
// test reads the outcome from #results.
import { IndexedDbKeyStore, IndexedDbMessageStore } from '@omechat/sdk';
import { keyStoreCases, messageStoreCases } from '@omechat/sdk/testing';

let stores = 0;
const createMessageStore = async () => {
  const prefix = `contract-${stores++}`;
  return { store: new IndexedDbMessageStore(prefix), reopen: () => new IndexedDbMessageStore(prefix) };
};
const createKeyStore = async () => new IndexedDbKeyStore(`contract-${stores++}`);
const results: { name: string; error: string | null }[] = [];
const outcome = (work: Promise<void>) => work.then(() => null, (e: unknown) => String(e));
for (const c of messageStoreCases) results.push({ name: `MessageStore: ${c.name}`, error: await outcome(c.run(createMessageStore)) });
for (const c of keyStoreCases) results.push({ name: `KeyStore: ${c.name}`, error: await outcome(c.run(createKeyStore)) });
document.querySelector('#results')!.textContent = JSON.stringify(results);
