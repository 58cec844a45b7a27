// The E2E engine's public surface. FileKeyStore lives in ./file-key-store.js because it
// needs node:fs, and this entry point must load in browsers.
export { CryptoError, type CryptoErrorCode } from './errors.js';
export { toBase64url, fromBase64url } from './encoding.js';
export {
  generateIdentity,
  identityFromSecret,
  generateSignedPrekey,
  generateOneTimePrekey,
  type Rng,
  type KeyPair,
  type IdentityKeyPair,
  type SignedPrekey,
  type OneTimePrekey,
} from './keys.js';
export { decodeHeader, encodeHeader, type MessageHeader, type X3dhInit } from './header.js';
export { initiateSession, acceptSession, toBundle, type PrekeyBundle } from './x3dh.js';
export {
  ratchetEncrypt,
  ratchetDecrypt,
  sessionToJson,
  sessionFromJson,
  MAX_SKIP,
  MAX_SKIPPED_KEYS,
  type Session,
  type SessionJson,
} from './ratchet.js';
export {
  E2EDevice,
  MAX_PLAINTEXT_BYTES,
  type DeviceAddress,
  type RecipientDevice,
  type EncryptedPart,
  type DevicePublicKeys,
  type E2EDeviceOptions,
} from './device.js';
export { safetyCode } from './safety-code.js';
export { MemoryKeyStore, type KeyStore } from './key-store.js';
export { IndexedDbKeyStore } from './indexed-db-key-store.js';
