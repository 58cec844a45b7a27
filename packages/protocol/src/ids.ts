import { z } from 'zod';

/**
 * Random identifiers. The server mints them from 16 bytes of a CSPRNG (128 bits) encoded as
 * base64url (22 characters). Imported legacy IDs may be longer (for example 64 hex
 * characters), so the schemas accept any URL-safe string of 16 to 128 characters.
 */
const urlSafeId = z
  .string()
  .min(16)
  .max(128)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be URL-safe: A-Z a-z 0-9 _ -');

export const userHashSchema = urlSafeId.brand<'UserHash'>();
export const clientHashSchema = urlSafeId.brand<'ClientHash'>();
export const chatIdSchema = urlSafeId.brand<'ChatId'>();
export const messageIdSchema = urlSafeId.brand<'MessageId'>();

export type UserHash = z.infer<typeof userHashSchema>;
export type ClientHash = z.infer<typeof clientHashSchema>;
export type ChatId = z.infer<typeof chatIdSchema>;
export type MessageId = z.infer<typeof messageIdSchema>;

/** Bytes of randomness in a freshly minted ID. */
export const ID_BYTES = 16;
