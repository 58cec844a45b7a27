import { z } from 'zod';
import { chatIdSchema, clientHashSchema, userHashSchema } from './ids.js';
import { chatEndReasonSchema, peerSchema, storedMessageSchema } from './chat.js';

/**
 * Everything the server pushes, through the one subscription `events.stream`.
 * Each item the stream yields is a batch of events, tracked (tRPC `tracked()`) with the id
 * of its last durable event, so several pending events leave in one frame and a client
 * resumes with `lastEventId` after a reconnect or a server restart.
 */
export const matchFoundEvent = z.object({
  type: z.literal('match.found'),
  chatId: chatIdSchema,
  peer: peerSchema,
  at: z.number().int(),
});
export const messageNewEvent = z.object({
  type: z.literal('message.new'),
  message: storedMessageSchema,
});
export const messageDeliveredEvent = z.object({
  type: z.literal('message.delivered'),
  chatId: chatIdSchema,
  seq: z.number().int(),
  by: userHashSchema,
  at: z.number().int(),
});
export const messageReadEvent = z.object({
  type: z.literal('message.read'),
  chatId: chatIdSchema,
  seq: z.number().int(),
  by: userHashSchema,
  at: z.number().int(),
});
/** Ephemeral: never stored, not replayed on resume. */
export const chatTypingEvent = z.object({
  type: z.literal('chat.typing'),
  chatId: chatIdSchema,
  userHash: userHashSchema,
  typing: z.boolean(),
});
export const chatEndedEvent = z.object({
  type: z.literal('chat.ended'),
  chatId: chatIdSchema,
  reason: chatEndReasonSchema,
  at: z.number().int(),
});
export const sessionRevokedEvent = z.object({
  type: z.literal('session.revoked'),
  clientHash: clientHashSchema,
});

export const omeEventSchema = z.discriminatedUnion('type', [
  matchFoundEvent,
  messageNewEvent,
  messageDeliveredEvent,
  messageReadEvent,
  chatTypingEvent,
  chatEndedEvent,
  sessionRevokedEvent,
]);
export type OmeEvent = z.infer<typeof omeEventSchema>;
export type OmeEventType = OmeEvent['type'];
export type MessageNewEvent = z.infer<typeof messageNewEvent>;

/**
 * An opaque resume cursor (today: a position in the user's own stream, which cursors handed
 * out by earlier versions keep the meaning of); clients store it and hand it back, never
 * parse it. One this stream never handed out is answered with BAD_REQUEST.
 */
export const eventIdSchema = z.string().regex(/^\d{1,16}$/);

export const streamInput = z
  .strictObject({ lastEventId: eventIdSchema.nullish() })
  .optional();

/** One item of `events.stream`: every event pending at the time, possibly none. */
export const eventBatchSchema = z.object({ events: z.array(omeEventSchema) });
export type EventBatch = z.infer<typeof eventBatchSchema>;
