import type { ChatId, ClientHash, MessageId, UserHash } from '@omechat/protocol';

/** Every random value the core mints, behind a port so tests can see what was minted. */
export interface Random {
  userHash(): UserHash;
  clientHash(): ClientHash;
  chatId(): ChatId;
  messageId(): MessageId;
  /** The 64-character account secret. */
  secret(): string;
  accessToken(): string;
}
