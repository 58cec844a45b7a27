import { z } from 'zod';
import { clientHashSchema, userHashSchema } from './ids.js';

/**
 * Public keys for end-to-end encryption (see docs/e2e.md). The server stores and hands out
 * these public parts only; private keys never leave the device.
 */
const key32 = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a 32-byte key in base64url');
const signature64 = z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'must be a 64-byte signature in base64url');
const prekeyId = z.number().int().min(0).max(2 ** 31 - 1);
/** E2E v2: an ML-KEM-768 public key (FIPS 203: 1,184 bytes, so 1,579 base64url characters). */
const kemKey = z
  .string()
  .max(1579)
  .regex(/^[A-Za-z0-9_-]{1579}$/, 'must be a 1,184-byte ML-KEM-768 key in base64url');

/** One-time prekeys a device may hold on the server at once. */
export const MAX_ONE_TIME_PREKEYS = 200;
/** One-time prekeys per upload. */
export const MAX_PREKEYS_PER_UPLOAD = 100;
/**
 * One-time KEM prekeys a device may hold on the server, and per upload. Each is about 1.7 KB
 * of JSON, so 40 per device (16 devices: about 1.1 MB per account) and an upload of about
 * 70 KB, well inside one frame.
 */
export const MAX_ONE_TIME_KEM_PREKEYS = 40;
export const MAX_KEM_PREKEYS_PER_UPLOAD = 40;

export const identityKeysSchema = z.strictObject({ signingPub: key32, dhPub: key32 });
export const prekeySchema = z.strictObject({ id: prekeyId, pub: key32 });
export const signedPrekeySchema = z.strictObject({ id: prekeyId, pub: key32, signature: signature64 });
/** Signed by the identity key over "OmeChat/e2e/v2/ML-KEM-768-prekey" || u32be(id) || pub (docs/e2e.md). */
export const kemPrekeySchema = z.strictObject({ id: prekeyId, pub: kemKey, signature: signature64 });

export const keysUploadInput = z.strictObject({
  /** Fixed for the life of a device: uploading a different identity is refused. */
  identity: identityKeysSchema,
  signedPrekey: signedPrekeySchema,
  oneTimePrekeys: z.array(prekeySchema).max(MAX_PREKEYS_PER_UPLOAD).default([]),
  /**
   * E2E v2: handed out when no one-time KEM prekey is left; replaced by each upload that
   * carries one. Once a device has one it keeps one: the device counts on it (docs/e2e.md).
   */
  lastResortKemPrekey: kemPrekeySchema.optional(),
  oneTimeKemPrekeys: z.array(kemPrekeySchema).max(MAX_KEM_PREKEYS_PER_UPLOAD).default([]),
});
export const keysStatusOutput = z.object({
  hasIdentity: z.boolean(),
  oneTimePrekeys: z.number().int(),
  /** E2E v2: one-time KEM prekeys left on the server (top up when low). */
  oneTimeKemPrekeys: z.number().int(),
  /** E2E v2: whether the server holds this device's last-resort KEM prekey. */
  hasLastResortKemPrekey: z.boolean(),
});

export const prekeyBundleSchema = z.object({
  identitySigningPub: key32,
  identityDhPub: key32,
  signedPrekey: signedPrekeySchema,
  /** Absent when the device has run out; the session then starts with three DHs. */
  oneTimePrekey: prekeySchema.optional(),
  /**
   * E2E v2 (PQXDH): a one-time KEM prekey (each handed out once), else the last-resort one.
   * Absent only for devices that never published KEM keys (v1): the bundle's E2E version.
   */
  kemPrekey: kemPrekeySchema.optional(),
});
export const deviceBundleSchema = z.object({ clientHash: clientHashSchema, bundle: prekeyBundleSchema });

/** Bundles of every device of a user (each one-time prekey is handed out once). */
export const keysBundlesInput = z.strictObject({ userHash: userHashSchema });
export const keysBundlesOutput = z.object({ devices: z.array(deviceBundleSchema) });

/** Identity keys only (no prekeys consumed): to check who is who, and for safety codes. */
export const keysDevicesOutput = z.object({
  devices: z.array(z.object({ clientHash: clientHashSchema, identity: identityKeysSchema })),
});

export type IdentityKeys = z.infer<typeof identityKeysSchema>;
export type Prekey = z.infer<typeof prekeySchema>;
export type SignedPrekey = z.infer<typeof signedPrekeySchema>;
export type KemPrekey = z.infer<typeof kemPrekeySchema>;
export type PrekeyBundle = z.infer<typeof prekeyBundleSchema>;
export type DeviceBundle = z.infer<typeof deviceBundleSchema>;
export type KeysUploadInput = z.input<typeof keysUploadInput>;
