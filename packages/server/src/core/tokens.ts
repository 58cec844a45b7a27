import { createHash, timingSafeEqual } from 'node:crypto';

/** Access tokens are stored only as SHA-256: they are 256-bit random, so no slow hash is needed. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function tokenMatches(storedHashHex: string, token: string): boolean {
  const expected = Buffer.from(storedHashHex, 'hex');
  const actual = Buffer.from(hashToken(token), 'hex');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
