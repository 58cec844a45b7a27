import type { ErrorCode, ErrorDetails } from '@omechat/protocol';

/**
 * The only error the core throws on purpose. The tRPC layer maps `code` to a transport
 * status once (src/trpc/errors.ts); `message` is safe to show to the client.
 *
 * It carries no stack trace: it is an answer to a client, never logged as a fault, and a
 * stack costs more than the refusal itself when a hostile frame is refused a thousand times.
 */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = code,
    readonly details: ErrorDetails = {},
  ) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'DomainError';
  }
}
