import { describeMessageStore } from './message-store.contract.js';
import { MemoryMessageStore } from './message-store.js';

describeMessageStore('MemoryMessageStore', async () => ({ store: new MemoryMessageStore() }));
