import { MemoryStorage } from './index.js';
import { storageContract } from '../contract/storage.contract.js';

storageContract('memory', (clock) => new MemoryStorage({ clock }));
