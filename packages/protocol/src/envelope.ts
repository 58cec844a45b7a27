import { z } from 'zod';
import { LIMITS } from './limits.js';
import { clientHashSchema } from './ids.js';

const base64url = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');

/**
 * The ciphertext addressed to one device. `header` is opaque to the server (the sender's
 * ratchet state for this device pair, see docs/e2e.md); `ciphertext` is the sealed message.
 */
export const envelopePartSchema = z.strictObject({
  to: clientHashSchema,
  header: base64url(LIMITS.maxHeaderChars),
  ciphertext: base64url(LIMITS.maxCiphertextChars),
});

/**
 * What the server stores and relays for a message: one part per addressed device.
 * The server checks only this shape and the size limit; it cannot read the content.
 * Limit: `LIMITS.maxEnvelopeBytes` bytes of JSON, at most `LIMITS.maxEnvelopeParts` parts.
 */
export const envelopeSchema = z
  .strictObject({
    v: z.literal(1),
    parts: z.array(envelopePartSchema).min(1).max(LIMITS.maxEnvelopeParts),
  })
  // The JSON's exact length, counted without building it (every string is base64url, which
  // JSON never escapes): it is checked on every message.
  .refine((e) => envelopeJsonLength(e) <= LIMITS.maxEnvelopeBytes, {
    message: `envelope exceeds ${LIMITS.maxEnvelopeBytes} bytes`,
  })
  .refine((e) => new Set(e.parts.map((p) => p.to)).size === e.parts.length, {
    message: 'each device may be addressed once',
  })
  .describe(`at most ${LIMITS.maxEnvelopeBytes} bytes as JSON; each device (\`to\`) at most once`);

/** `JSON.stringify(envelope).length` for an envelope of this schema's shape, without building it. */
export function envelopeJsonLength(envelope: { parts: { to: string; header: string; ciphertext: string }[] }): number {
  // {"v":1,"parts":[ ... ]} around the parts, {"to":"","header":"","ciphertext":""} around
  // each part's strings, and the commas between parts.
  let length = 18 + envelope.parts.length * 38 - 1;
  for (const part of envelope.parts) length += part.to.length + part.header.length + part.ciphertext.length;
  return length;
}

export type EnvelopePart = z.infer<typeof envelopePartSchema>;
export type Envelope = z.infer<typeof envelopeSchema>;
