import { CryptoError } from './errors.js';

/** The CryptoError code `fn` throws, or undefined if it throws nothing (any other error is rethrown). */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof CryptoError) return error.code;
    throw error;
  }
  return undefined;
}
