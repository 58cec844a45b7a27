import { describeKeyStore } from './key-store.contract.js';
import { MemoryKeyStore } from './key-store.js';

describeKeyStore('MemoryKeyStore', async () => new MemoryKeyStore());
