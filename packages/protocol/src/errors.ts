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
  'CONFLICT',
  'TOO_MANY_CLIENTS',
  'RATE_LIMITED',
  'BANNED',
  'CHAT_ENDED',
  'ALREADY_REPORTED',
  'INTERNAL',
  /** Client-side only: the server could not be reached or the connection dropped mid-call. */
  'UNAVAILABLE',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** Extra, typed facts some errors carry to the client. */
export interface ErrorDetails {
  /** RATE_LIMITED: how long to wait before trying again. */
  retryAfterMs?: number;
  /** BANNED: which layer of the ban applies, and when it ends (null: permanent). */
  banLayer?: 'account' | 'device' | 'network';
  banExpiresAt?: number | null;
  /** BAD_REQUEST: which input fields were wrong (paths only, never values). */
  fields?: string[];
}
