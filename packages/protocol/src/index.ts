export * from './limits.js';
export * from './ids.js';
export * from './account.js';
export * from './envelope.js';
export * from './chat.js';
export * from './events.js';
export * from './errors.js';
export * from './close-codes.js';
