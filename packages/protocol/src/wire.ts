import { z } from 'zod';
import { errorCodeSchema, errorDetailsSchema } from './errors.js';

/**
 * The frames of tRPC v11's WebSocket protocol as OmeChat uses it (JSON text frames, no
 * transformer), so a client in any language can speak it without a tRPC library.
 * docs/protocol.md explains them in order; the conformance suite checks every server frame
 * against the JSON Schema generated from these.
 */

/** A request id the client picks; unique among its open calls and subscriptions. */
export const requestIdSchema = z.union([z.string(), z.number()]);

// --- client to server -----------------------------------------------------------

/** The first frame when the URL carries `?connectionParams=1`. Values must be strings. */
export const connectionParamsFrame = z.strictObject({
  method: z.literal('connectionParams'),
  data: z.record(z.string(), z.string()).nullable(),
});

export const requestFrame = z.strictObject({
  id: requestIdSchema,
  jsonrpc: z.literal('2.0').optional(),
  method: z.enum(['query', 'mutation', 'subscription']),
  params: z.strictObject({
    path: z.string(),
    /** Omitted for procedures without input. */
    input: z.unknown().optional(),
    /** Subscriptions only: resume after this event id (merged into the input by the server). */
    lastEventId: z.string().optional(),
  }),
});

export const subscriptionStopFrame = z.strictObject({
  id: requestIdSchema,
  jsonrpc: z.literal('2.0').optional(),
  method: z.literal('subscription.stop'),
});

export const clientFrame = z.union([connectionParamsFrame, requestFrame, subscriptionStopFrame]);

// --- server to client -----------------------------------------------------------

/** What `data` of an error frame carries: the tRPC code, and OmeChat's typed code. */
export const errorDataSchema = z.object({
  /** tRPC's error code, e.g. `BAD_REQUEST`, `UNAUTHORIZED`. */
  code: z.string(),
  httpStatus: z.number().int(),
  /** The procedure the error belongs to; absent for errors about the connection or frame. */
  path: z.string().optional(),
  /** The code a client should act on. */
  omechatCode: errorCodeSchema,
  details: errorDetailsSchema,
});

export const errorShapeSchema = z.object({
  /** JSON-RPC 2.0 error number (e.g. -32600 bad request, -32001 unauthorized). */
  code: z.number().int(),
  /** Safe to show; never a stack trace or internal detail. */
  message: z.string(),
  data: errorDataSchema,
});

export const resultFrame = z.object({
  id: requestIdSchema,
  jsonrpc: z.literal('2.0').optional(),
  result: z.object({
    type: z.literal('data'),
    /** Set on subscription items that carry a resume id (`events.stream`). */
    id: z.string().optional(),
    data: z.unknown(),
  }),
});

export const subscriptionStateFrame = z.object({
  id: requestIdSchema,
  jsonrpc: z.literal('2.0').optional(),
  result: z.object({ type: z.enum(['started', 'stopped']) }),
});

/** `id` is null when the error concerns the connection or an unreadable frame. */
export const errorFrame = z.object({
  id: requestIdSchema.nullable(),
  jsonrpc: z.literal('2.0').optional(),
  error: errorShapeSchema,
});

/** Sent before a restart: reconnect (with backoff) and resubscribe with `lastEventId`. */
export const reconnectFrame = z.object({
  id: z.null(),
  jsonrpc: z.literal('2.0').optional(),
  method: z.literal('reconnect'),
});

export const serverFrame = z.union([resultFrame, subscriptionStateFrame, errorFrame, reconnectFrame]);

/** Keep-alive: these two bare text frames (not JSON) go both ways. */
export const KEEPALIVE = { ping: 'PING', pong: 'PONG' } as const;

export type ServerFrame = z.infer<typeof serverFrame>;
export type ClientFrame = z.infer<typeof clientFrame>;
export type ErrorShape = z.infer<typeof errorShapeSchema>;
