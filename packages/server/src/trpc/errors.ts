import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import { ZodError } from 'zod';
import type { ErrorCode, ErrorDetails } from '@omechat/protocol';
import { DomainError } from '../core/domain-error.js';

/** The one table from domain error codes to tRPC codes. */
const TO_TRPC: Record<ErrorCode, TRPC_ERROR_CODE_KEY> = {
  BAD_REQUEST: 'BAD_REQUEST',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNAUTHORIZED: 'UNAUTHORIZED',
  INVALID_CREDENTIALS: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  USERNAME_TAKEN: 'CONFLICT',
  USERNAME_RESERVED: 'BAD_REQUEST',
  CONFLICT: 'CONFLICT',
  TOO_MANY_CLIENTS: 'PRECONDITION_FAILED',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
  BANNED: 'FORBIDDEN',
  CHAT_ENDED: 'PRECONDITION_FAILED',
  ALREADY_REPORTED: 'CONFLICT',
  POW_REQUIRED: 'PRECONDITION_FAILED',
  POW_INVALID: 'BAD_REQUEST',
  POW_EXPIRED: 'PRECONDITION_FAILED',
  POW_REPLAYED: 'CONFLICT',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
  UNAVAILABLE: 'SERVICE_UNAVAILABLE',
};

/** For errors tRPC raises itself (bad input, unknown procedure, parse errors). */
const FROM_TRPC: Partial<Record<TRPC_ERROR_CODE_KEY, ErrorCode>> = {
  PARSE_ERROR: 'BAD_REQUEST',
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  METHOD_NOT_SUPPORTED: 'BAD_REQUEST',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  TOO_MANY_REQUESTS: 'RATE_LIMITED',
  CONFLICT: 'CONFLICT',
};

export function toTRPCError(error: DomainError): TRPCError {
  return new TRPCError({ code: TO_TRPC[error.code], message: error.message, cause: error });
}

export interface OmeChatErrorData {
  omechatCode: ErrorCode;
  details: ErrorDetails;
}

/** What a client sees of any error: a typed code, a safe message, no stack or internals. */
export function describeError(error: TRPCError): { message: string } & OmeChatErrorData {
  const cause = error.cause;
  if (cause instanceof DomainError) {
    return { message: cause.message, omechatCode: cause.code, details: cause.details };
  }
  if (cause instanceof ZodError) {
    const fields = [...new Set(cause.issues.map((i) => i.path.join('.') || '(input)'))];
    // Too long a string or list is a size problem; too large a number is just a bad value.
    const tooBig = cause.issues.some((i) => i.code === 'too_big' && i.origin !== 'number' && i.origin !== 'bigint');
    return {
      message: `Invalid input: ${fields.join(', ')}`,
      omechatCode: tooBig ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST',
      details: { fields },
    };
  }
  const omechatCode = FROM_TRPC[error.code] ?? 'INTERNAL';
  return {
    message: omechatCode === 'INTERNAL' ? 'Internal error' : error.message,
    omechatCode,
    details: {},
  };
}
