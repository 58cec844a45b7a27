import { describe, expect, it } from 'vitest';
import {
  CLOSE_CODES,
  ERROR_CODES,
  LIMITS,
  TERMINAL_CLOSE_CODES,
  closeCodeName,
  envelopeSchema,
  isErrorCode,
  registerInput,
  secretSchema,
  sendInput,
  userHashSchema,
  usernameKey,
} from './index.js';

describe('username', () => {
  it('is NFKC-normalised, so full-width letters become ASCII', () => {
    expect(registerInput.parse({ username: 'ｓａｍ_42', age: 19 }).username).toBe('sam_42');
  });

  it('accepts 3-32 characters of A-Z a-z 0-9 _ . - and nothing else', () => {
    for (const ok of ['abc', 'a.b-c_d', 'X'.repeat(32)]) expect(registerInput.safeParse({ username: ok, age: 20 }).success).toBe(true);
    for (const bad of ['ab', 'X'.repeat(33), 'has space', 'emoji😀', 'аlice' /* Cyrillic а */, '<script>']) {
      expect(registerInput.safeParse({ username: bad, age: 20 }).success).toBe(false);
    }
  });

  it('is unique case-insensitively', () => {
    expect(usernameKey('Alice')).toBe(usernameKey('aLICE'));
  });
});

describe('age', () => {
  it('is an integer from 13 to 120', () => {
    for (const age of [13, 17, 18, 120]) expect(registerInput.safeParse({ username: 'abc', age }).success).toBe(true);
    for (const age of [12, 121, 17.5, '18', NaN]) expect(registerInput.safeParse({ username: 'abc', age }).success).toBe(false);
  });
});

describe('ids and credentials', () => {
  it('accepts URL-safe ids of 16-128 characters only', () => {
    expect(userHashSchema.safeParse('A'.repeat(22)).success).toBe(true);
    expect(userHashSchema.safeParse('short').success).toBe(false);
    expect(userHashSchema.safeParse('../../etc/passwd_xx').success).toBe(false);
  });

  it('takes a secret of exactly 64 URL-safe characters', () => {
    expect(secretSchema.safeParse('a'.repeat(64)).success).toBe(true);
    expect(secretSchema.safeParse('a'.repeat(63)).success).toBe(false);
    expect(secretSchema.safeParse('a'.repeat(63) + '!').success).toBe(false);
  });
});

describe('envelope', () => {
  const part = (to: string, size = 10) => ({ to, header: 'aGVhZGVy', ciphertext: 'x'.repeat(size) });

  it('carries one part per addressed device', () => {
    expect(envelopeSchema.safeParse({ v: 1, parts: [part('A'.repeat(22)), part('B'.repeat(22))] }).success).toBe(true);
    expect(envelopeSchema.safeParse({ v: 1, parts: [part('A'.repeat(22)), part('A'.repeat(22))] }).success).toBe(false);
    expect(envelopeSchema.safeParse({ v: 1, parts: [] }).success).toBe(false);
    expect(envelopeSchema.safeParse({ v: 2, parts: [part('A'.repeat(22))] }).success).toBe(false);
  });

  it('refuses more than the documented size', () => {
    const parts = Array.from({ length: 3 }, (_, i) => part(String(i).repeat(22), LIMITS.maxCiphertextChars));
    const result = envelopeSchema.safeParse({ v: 1, parts });
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain(String(LIMITS.maxEnvelopeBytes));
  });

  it('draws the size line at exactly LIMITS.maxEnvelopeBytes of JSON', () => {
    const sized = (bytes: number) => {
      const envelope = { v: 1, parts: [part('A'.repeat(22), 60_000), part('B'.repeat(22), 10)] };
      envelope.parts[1]!.ciphertext = 'x'.repeat(10 + bytes - JSON.stringify(envelope).length);
      expect(JSON.stringify(envelope).length).toBe(bytes);
      return envelopeSchema.safeParse(envelope).success;
    };
    expect(sized(LIMITS.maxEnvelopeBytes)).toBe(true);
    expect(sized(LIMITS.maxEnvelopeBytes + 1)).toBe(false);
  });

  it('refuses unknown keys, so nothing unexpected is stored', () => {
    expect(envelopeSchema.safeParse({ v: 1, parts: [part('A'.repeat(22))], plaintext: 'hi' }).success).toBe(false);
    expect(sendInput.safeParse({ chatId: 'C'.repeat(22), envelope: { v: 1, parts: [part('A'.repeat(22))] }, clientMessageId: 'x y' }).success).toBe(false);
  });
});

describe('codes', () => {
  it('names every close code and marks the terminal ones', () => {
    expect(closeCodeName(CLOSE_CODES.SESSION_REVOKED)).toBe('SESSION_REVOKED');
    expect(TERMINAL_CLOSE_CODES.has(CLOSE_CODES.BANNED)).toBe(true);
    expect(TERMINAL_CLOSE_CODES.has(CLOSE_CODES.SERVER_SHUTDOWN)).toBe(false);
    expect(new Set(Object.values(CLOSE_CODES)).size).toBe(Object.values(CLOSE_CODES).length);
  });

  it('recognises its own error codes only', () => {
    for (const code of ERROR_CODES) expect(isErrorCode(code)).toBe(true);
    expect(isErrorCode('TEAPOT')).toBe(false);
  });
});
