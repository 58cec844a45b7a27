import { CryptoError } from './errors.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const VALUES = new Map([...ALPHABET].map((c, i) => [c, i]));

/** Unpadded base64url (RFC 4648 §5), the only text encoding on the wire. */
export function toBase64url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let j = 0; j < chars; j++) out += ALPHABET[(n >> (18 - 6 * j)) & 63];
  }
  return out;
}

/**
 * Strict decoder: rejects padding, foreign characters and non-zero trailing bits, so every
 * byte string has exactly one accepted encoding and a tampered string cannot decode to the
 * same bytes.
 */
export function fromBase64url(text: string, expectedLength?: number): Uint8Array {
  if (text.length % 4 === 1) throw new CryptoError('MALFORMED', 'bad base64url length');
  const out = new Uint8Array(Math.floor((text.length * 6) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const c of text) {
    const v = VALUES.get(c);
    if (v === undefined) throw new CryptoError('MALFORMED', 'bad base64url character');
    acc = ((acc << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) throw new CryptoError('MALFORMED', 'non-canonical base64url');
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new CryptoError('MALFORMED', `expected ${expectedLength} bytes`);
  }
  return out;
}

export function u32be(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new CryptoError('MALFORMED', 'not a u32');
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

function isU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/** Readers for persisted state: anything unexpected is MALFORMED, never a TypeError. */
export type JsonObject = Readonly<Record<string, unknown>>;

export function asObject(value: unknown, what = 'state'): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CryptoError('MALFORMED', `${what} is not an object`);
  }
  return value as JsonObject;
}

export function asArray(value: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new CryptoError('MALFORMED', `${what} is not an array`);
  return value;
}

export function readString(o: JsonObject, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new CryptoError('MALFORMED', `${key} is not a string`);
  return v;
}

export function readBytes(o: JsonObject, key: string, length?: number): Uint8Array {
  return fromBase64url(readString(o, key), length);
}

export function readOptionalBytes(o: JsonObject, key: string, length?: number): Uint8Array | undefined {
  return o[key] === undefined || o[key] === null ? undefined : readBytes(o, key, length);
}

export function readU32(o: JsonObject, key: string): number {
  const v = o[key];
  if (!isU32(v)) throw new CryptoError('MALFORMED', `${key} is not a u32`);
  return v;
}

/** For public values only (keys, ids): not constant time. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
