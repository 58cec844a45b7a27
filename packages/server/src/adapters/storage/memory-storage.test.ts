import { MemoryStorage } from './memory-storage.js';
import { storageContract } from './storage.contract.js';

storageContract('memory', (clock) => new MemoryStorage({ clock }));
