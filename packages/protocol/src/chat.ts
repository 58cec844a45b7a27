import { z } from 'zod';
import { LIMITS } from './limits.js';
import { ageSchema } from './account.js';
import { chatIdSchema, clientHashSchema, messageIdSchema, userHashSchema } from './ids.js';
import { envelopeSchema } from './envelope.js';

export const interestSchema = z
  .string()
  .trim()
  .toLowerCase()
  .min(1)
  .max(LIMITS.interestMaxChars)
  .regex(/^[\p{L}\p{N} _-]+$/u, 'letters, digits, space, _ and - only')
  .describe('trimmed and lower-cased, then letters, digits, space, _ and - only');

export const matchStartInput = z.strictObject({
  tolerance: z.number().int().min(0).max(LIMITS.toleranceMax),
  interests: z.array(interestSchema).max(LIMITS.maxInterests).optional(),
});
/** `chatId` is set when a waiting partner was found at once (match.found follows too). */
export const matchStartOutput = z.object({ queued: z.boolean(), chatId: chatIdSchema.nullable() });

export const matchCancelOutput = z.object({ cancelled: z.boolean() });

/** The answer of mutations that only succeed or fail. */
export const okOutput = z.object({ ok: z.literal(true) });

export const peerSchema = z.object({
  userHash: userHashSchema,
  username: z.string(),
  age: ageSchema,
});

export const chatStateSchema = z.enum(['active', 'ended']);

/** Why a chat ended, as `chat.ended` says. */
export const chatEndReasonSchema = z.enum(['left', 'blocked', 'banned', 'deleted']);

export const chatSummarySchema = z.object({
  chatId: chatIdSchema,
  /**
   * The other member. If they deleted their account the chat stays (ended, reason
   * `deleted`) so it can still be read and reported: then `deleted` is true, `username` is
   * `(deleted)` and `age` null. The server always sends `deleted`; optional so a peer taken
   * from `match.found` fits the same type.
   */
  peer: peerSchema.extend({ age: ageSchema.nullable(), deleted: z.boolean().optional() }),
  state: chatStateSchema,
  /** Set once the chat has ended. */
  endReason: chatEndReasonSchema.nullable(),
  createdAt: z.number().int(),
  lastActivityAt: z.number().int(),
  lastSeq: z.number().int(),
  unread: z.number().int(),
});
export const chatListOutput = z.array(chatSummarySchema);

export const chatIdInput = z.strictObject({ chatId: chatIdSchema });

export const historyInput = z.strictObject({
  chatId: chatIdSchema,
  /** Return messages with seq strictly below this; omit for the newest page. */
  beforeSeq: z.number().int().min(1).optional(),
  limit: z.number().int().min(1).max(LIMITS.historyPageMax).default(50),
});

export const storedMessageSchema = z.object({
  chatId: chatIdSchema,
  messageId: messageIdSchema,
  seq: z.number().int(),
  senderUserHash: userHashSchema,
  senderClientHash: clientHashSchema,
  envelope: envelopeSchema,
  sentAt: z.number().int(),
});
export const historyOutput = z.object({
  messages: z.array(storedMessageSchema),
  /** True when older messages exist below the first one returned. */
  hasMore: z.boolean(),
});

export const sendInput = z.strictObject({
  chatId: chatIdSchema,
  envelope: envelopeSchema,
  /** Chosen by the sending device; a retry with the same id returns the first ack. */
  clientMessageId: z
    .string()
    .min(1)
    .max(LIMITS.clientMessageIdMax)
    .regex(/^[A-Za-z0-9_.:-]+$/),
});
export const sendOutput = z.object({
  messageId: messageIdSchema,
  seq: z.number().int(),
  sentAt: z.number().int(),
});

export const markReadInput = z.strictObject({
  chatId: chatIdSchema,
  seq: z.number().int().min(1),
});

export const typingInput = z.strictObject({ chatId: chatIdSchema, typing: z.boolean() });

export type MatchStartInput = z.input<typeof matchStartInput>;
export type Peer = z.infer<typeof peerSchema>;
export type ChatSummary = z.infer<typeof chatSummarySchema>;
export type StoredMessage = z.infer<typeof storedMessageSchema>;
export type SendInput = z.input<typeof sendInput>;
export type SendOutput = z.infer<typeof sendOutput>;
export type HistoryInput = z.input<typeof historyInput>;
