// Node-only stores (they need node:fs); the main entry point must load in browsers.
export { FileKeyStore } from './crypto/file-key-store.js';
export { FileMessageStore } from './store/file-message-store.js';
