// For store implementers and this repository's browser test: the store contracts as plain
// async cases (no test framework). Not part of the published package.
export { messageStoreCases, type MessageStoreCase, type StoreUnderTest } from './store/message-store.cases.js';
export { keyStoreCases, type KeyStoreCase } from './crypto/key-store.cases.js';
