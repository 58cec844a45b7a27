// Runs the SDK's MessageStore contract against IndexedDbMessageStore in a real browser; the
// e2e test reads the outcome from #results.
import { IndexedDbMessageStore } from '@omechat/sdk';
import { messageStoreCases } from '@omechat/sdk/testing';

let stores = 0;
const create = async () => {
  const prefix = `contract-${stores++}`;
  return { store: new IndexedDbMessageStore(prefix), reopen: () => new IndexedDbMessageStore(prefix) };
};
const results: { name: string; error: string | null }[] = [];
for (const c of messageStoreCases) {
  results.push({ name: c.name, error: await c.run(create).then(() => null, (e: unknown) => String(e)) });
}
document.querySelector('#results')!.textContent = JSON.stringify(results);
