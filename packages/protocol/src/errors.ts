import { z } from 'zod';

/**
 * Every error a client can receive. The server maps each to a tRPC code once
 * (`packages/server/src/trpc/errors.ts`); the SDK surfaces it as `OmeChatError.code`.
 */
export const ERROR_CODES = [
  'BAD_REQUEST',
  'PAYLOAD_TOO_LARGE',
  'UNAUTHORIZED',
  'INVALID_CREDENTIALS',
  'FORBIDDEN',
  'NOT_FOUND',
  'USERNAME_TAKEN',
  /** A username that looks like staff's (admin, system, support, moderator, omechat..., look-alikes included). */
  'USERNAME_RESERVED',
  'CONFLICT',
  'TOO_MANY_CLIENTS',
  'RATE_LIMITED',
  'BANNED',
  'CHAT_ENDED',
  'ALREADY_REPORTED',
  /** account.register without a proof-of-work solution (the server requires one). */
  'POW_REQUIRED',
  /** A solution that does not solve its challenge, or a challenge the server did not sign (or not for this network). */
  'POW_INVALID',
  /** The challenge expired before the solution came back: fetch a new one. */
  'POW_EXPIRED',
  /** This solution was already used: each one registers at most one account. */
  'POW_REPLAYED',
  'INTERNAL',
  /** A store the server needs (database, Redis) is down; client-side also: the server could not be reached or the connection dropped mid-call. */
  'UNAVAILABLE',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];
export const errorCodeSchema = z.enum(ERROR_CODES);

/** What each code means to a client, and what it should do. */
export const ERROR_DESCRIPTIONS: Record<ErrorCode, string> = {
  BAD_REQUEST: 'The input or frame is invalid; `details.fields` names the wrong fields. Do not retry unchanged.',
  PAYLOAD_TOO_LARGE: 'A string or list in the input is longer than its limit.',
  UNAUTHORIZED: 'The call needs a signed-in device (or the admin token): connect with valid connectionParams.',
  INVALID_CREDENTIALS: 'Wrong username or secret.',
  FORBIDDEN: 'Not allowed for this user, e.g. a chat they are not a member of.',
  NOT_FOUND: 'The addressed device, user, ban or report does not exist.',
  USERNAME_TAKEN: 'Another account has this username (case-insensitively).',
  USERNAME_RESERVED: 'The username looks like a staff name (admin, system, support, moderator, omechat..., look-alikes such as 0/o and 1/l/i included); choose another.',
  CONFLICT: 'The request conflicts with the current state; a retry may succeed.',
  TOO_MANY_CLIENTS: 'The account has the maximum number of devices; revoke one first.',
  RATE_LIMITED: 'Over a rate limit; `details.retryAfterMs` says when to try again.',
  BANNED: 'A ban applies; `details.banLayer` and `details.banExpiresAt` (null: permanent) say which and until when. The socket closes with 4004.',
  CHAT_ENDED: 'The chat has ended; nothing more can be sent in it.',
  ALREADY_REPORTED: 'This user already reported this chat.',
  POW_REQUIRED: 'account.register needs a solved proof-of-work challenge (`account.challenge`); the SDK solves it.',
  POW_INVALID: 'The proof-of-work solution is wrong, or its challenge was not signed by this server for this network. Fetch a new challenge.',
  POW_EXPIRED: 'The proof-of-work challenge expired before the solution came back. Fetch a new one.',
  POW_REPLAYED: 'This proof-of-work solution was already used: each registers at most one account.',
  INTERNAL: 'A server fault; the message carries no detail. Retrying later may help.',
  UNAVAILABLE: 'The server cannot reach its database, matcher or rate-limit store right now; retry shortly. SDKs also use it when the server itself cannot be reached.',
};

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** Extra, typed facts some errors carry to the client. */
export const errorDetailsSchema = z.object({
  /** RATE_LIMITED: how long to wait before trying again. */
  retryAfterMs: z.number().int().min(0).optional(),
  /** BANNED: which layer of the ban applies, and when it ends (null: permanent). */
  banLayer: z.enum(['account', 'device', 'network']).optional(),
  banExpiresAt: z.number().int().nullable().optional(),
  /** BAD_REQUEST: which input fields were wrong (paths only, never values). */
  fields: z.array(z.string()).optional(),
});
export type ErrorDetails = z.infer<typeof errorDetailsSchema>;
