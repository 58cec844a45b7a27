import { randomBytes, randomFillSync } from 'node:crypto';
import {
  ID_BYTES,
  SECRET_LENGTH,
  type ChatId,
  type ClientHash,
  type MessageId,
  type UserHash,
} from '@omechat/protocol';
import type { Random } from '../../ports/random.js';

// Ids are minted on the message path: one CSPRNG call fills the bytes of 256 of them.
const pool = Buffer.alloc(ID_BYTES * 256);
let offset = pool.length;
const id = () => {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  offset += ID_BYTES;
  return pool.toString('base64url', offset - ID_BYTES, offset);
};

/** CSPRNG-backed IDs and credentials (node:crypto). */
export const cryptoRandom: Random = {
  userHash: () => id() as UserHash,
  clientHash: () => id() as ClientHash,
  chatId: () => id() as ChatId,
  messageId: () => id() as MessageId,
  // 48 random bytes are exactly 64 base64url characters: 384 bits, no padding, no bias.
  secret: () => randomBytes((SECRET_LENGTH * 3) / 4).toString('base64url'),
  accessToken: () => randomBytes(32).toString('base64url'),
};
