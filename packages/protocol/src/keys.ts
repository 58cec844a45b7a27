import { z } from 'zod';
import { clientHashSchema, userHashSchema } from './ids.js';

/**
 * Public keys for end-to-end encryption (see docs/e2e.md). The server stores and hands out
 * these public parts only; private keys never leave the device.
 */
const key32 = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a 32-byte key in base64url');
const signature64 = z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'must be a 64-byte signature in base64url');
const prekeyId = z.number().int().min(0).max(2 ** 31 - 1);

/** One-time prekeys a device may hold on the server at once. */
export const MAX_ONE_TIME_PREKEYS = 200;
/** One-time prekeys per upload. */
export const MAX_PREKEYS_PER_UPLOAD = 100;

export const identityKeysSchema = z.strictObject({ signingPub: key32, dhPub: key32 });
export const prekeySchema = z.strictObject({ id: prekeyId, pub: key32 });
export const signedPrekeySchema = z.strictObject({ id: prekeyId, pub: key32, signature: signature64 });

export const keysUploadInput = z.strictObject({
  /** Fixed for the life of a device: uploading a different identity is refused. */
  identity: identityKeysSchema,
  signedPrekey: signedPrekeySchema,
  oneTimePrekeys: z.array(prekeySchema).max(MAX_PREKEYS_PER_UPLOAD).default([]),
});
export const keysStatusOutput = z.object({ hasIdentity: z.boolean(), oneTimePrekeys: z.number().int() });

export const prekeyBundleSchema = z.object({
  identitySigningPub: key32,
  identityDhPub: key32,
  signedPrekey: signedPrekeySchema,
  /** Absent when the device has run out; the session then starts with three DHs. */
  oneTimePrekey: prekeySchema.optional(),
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
export type PrekeyBundle = z.infer<typeof prekeyBundleSchema>;
export type DeviceBundle = z.infer<typeof deviceBundleSchema>;
export type KeysUploadInput = z.input<typeof keysUploadInput>;
