import { TRPCClientError } from '@trpc/client';
import { isErrorCode, type ErrorCode, type ErrorDetails } from '@omechat/protocol';

// ---- SDK-only error codes --------------------------------------------------------------
// The server never sends these; the SDK raises them for conditions only a client can see.
// Add new SDK codes here (one table), so every code has its description for developers.
export const SDK_ERROR_DESCRIPTIONS = {
  PEER_NOT_READY:
    'chat.send waited until its deadline (`callTimeoutMs`) for the peer to publish encryption keys, and they did not: the peer has not finished signing in (or uses a client that never publishes keys). Nothing was sent; try again later.',
} as const;
export type SdkErrorCode = keyof typeof SDK_ERROR_DESCRIPTIONS;
/** What `OmeChatError.code` can be: a protocol code (the server's answer) or an SDK-only one. */
export type OmeChatErrorCode = ErrorCode | SdkErrorCode;
// -------------------------------------------------------------------------------------------

/** Every failure of an SDK call: `code` is one of the protocol's error codes or an SDK-only one. */
export class OmeChatError extends Error {
  override name = 'OmeChatError';
  constructor(
    readonly code: OmeChatErrorCode,
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
