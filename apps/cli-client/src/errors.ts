import type { ClosedReason, OmeChatError, OmeChatErrorCode } from '@omechat/sdk';

/** Codes only the CLI produces; everything else is one of the SDK's `OmeChatErrorCode`s. */
export type CliErrorCode = 'USAGE' | 'NOT_LOGGED_IN' | 'ALREADY_LOGGED_IN' | 'DEVICE_BUSY' | 'TIMEOUT' | 'CANCELLED';

export const EXIT = { ok: 0, error: 1, usage: 64 } as const;

export class CliError extends Error {
  override name = 'CliError';
  constructor(
    readonly code: CliErrorCode | OmeChatErrorCode,
    message: string,
  ) {
    super(message);
  }

  get exitCode(): number {
    return this.code === 'USAGE' ? EXIT.usage : EXIT.error;
  }
}

export const usage = (message: string) => new CliError('USAGE', message);

/**
 * A call that was in flight when the server closed the socket for good (revoked, banned)
 * fails as UNAVAILABLE; the close reason says what really happened.
 */
export function toCliError(error: unknown, closedReason: ClosedReason = null): CliError {
  if (error instanceof CliError) return error;
  if (isOmeChatError(error)) {
    if (error.code === 'UNAVAILABLE' && closedReason && closedReason !== 'closed') return closedError(closedReason);
    if (error.code === 'UNAUTHORIZED') return closedError('unauthorized');
    return new CliError(error.code, error.message);
  }
  return new CliError('INTERNAL', error instanceof Error ? error.message : String(error));
}

/** By shape rather than `instanceof`, so this module does not load the SDK. */
function isOmeChatError(error: unknown): error is OmeChatError {
  return error instanceof Error && error.name === 'OmeChatError' && typeof (error as { code?: unknown }).code === 'string';
}

export function closedError(reason: Exclude<ClosedReason, null>): CliError {
  switch (reason) {
    case 'banned':
      return new CliError('BANNED', 'This account, device or network is banned');
    case 'revoked':
      return new CliError('UNAUTHORIZED', 'This device was signed out; run `omechat logout`, then `omechat login`');
    case 'unauthorized':
      return new CliError('UNAUTHORIZED', 'The server no longer accepts this device (signed out elsewhere?); run `omechat logout`, then `omechat login`');
    case 'closed':
      return new CliError('UNAVAILABLE', 'The connection was closed');
  }
}
