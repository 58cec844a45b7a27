import { busContract } from './bus.contract.js';
import { LocalBus } from './local-bus.js';

busContract('local', { open: () => new LocalBus(), crossProcess: false });
