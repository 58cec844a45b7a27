export type CryptoErrorCode =
  | 'BAD_SIGNATURE'
  | 'DECRYPT_FAILED'
  | 'REPLAY'
  | 'TOO_MANY_SKIPPED'
  | 'NO_SESSION'
  | 'MALFORMED'
  | 'UNKNOWN_PREKEY'
  | 'TOO_LARGE'
  /** A v2-capable peer's v1 handshake to a device that published KEM keys: someone stripped them. */
  | 'DOWNGRADE';

/**
 * Every failure of the E2E engine. Messages never contain key material, so an error may be
 * logged or shown as is; callers branch on `code`.
 */
export class CryptoError extends Error {
  override readonly name = 'CryptoError';

  constructor(
    readonly code: CryptoErrorCode,
    message: string = code,
  ) {
    super(message);
  }
}
