// For store implementers and this repository's tests: the store contracts as plain
// async cases (no test framework). Not part of the published package.
export { messageStoreCases, type MessageStoreCase, type StoreUnderTest } from './store/message-store.cases.js';
export { keyStoreCases, type KeyStoreCase } from './crypto/key-store.cases.js';
// The E2E engine under the client, for tests and benchmarks that look at what goes on the wire.
export { E2EDevice, type RecipientDevice } from './crypto/device.js';
export { decodeHeader, type E2EVersion } from './crypto/header.js';
export { fromBase64url } from './crypto/encoding.js';
