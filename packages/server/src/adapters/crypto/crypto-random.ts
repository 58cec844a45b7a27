import { randomBytes } from 'node:crypto';
import {
  ID_BYTES,
  SECRET_LENGTH,
  type ChatId,
  type ClientHash,
  type MessageId,
  type UserHash,
} from '@omechat/protocol';
import type { Random } from '../../ports/random.js';

const id = () => randomBytes(ID_BYTES).toString('base64url');

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
