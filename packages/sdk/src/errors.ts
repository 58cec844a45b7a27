import { TRPCClientError } from '@trpc/client';
import { isErrorCode, type ErrorCode, type ErrorDetails } from '@omechat/protocol';

/** Every failure of an SDK call: `code` is one of the protocol's error codes. */
export class OmeChatError extends Error {
  override name = 'OmeChatError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
  }

  /** For RATE_LIMITED: how long to wait before retrying. */
  get retryAfterMs(): number | undefined {
    return this.details.retryAfterMs;
  }
}

interface ServerErrorData {
  omechatCode?: unknown;
  details?: ErrorDetails;
}

export function toOmeChatError(error: unknown): OmeChatError {
  if (error instanceof OmeChatError) return error;
  if (error instanceof TRPCClientError) {
    const data = (error as TRPCClientError<never>).data as ServerErrorData | undefined;
    if (data && isErrorCode(data.omechatCode)) {
      return new OmeChatError(data.omechatCode, error.message, data.details ?? {});
    }
    // No error shape from the server: the socket closed or never opened.
    return new OmeChatError('UNAVAILABLE', error.message || 'Connection lost');
  }
  return new OmeChatError('INTERNAL', error instanceof Error ? error.message : String(error));
}
