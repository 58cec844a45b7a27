import type { ErrorCode, ErrorDetails } from '@omechat/protocol';

/**
 * The only error the core throws on purpose. The tRPC layer maps `code` to a transport
 * status once (src/trpc/errors.ts); `message` is safe to show to the client.
 */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = code,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
