export { createOmeChatClient, defaultRetryDelay } from './client.js';
export type {
  OmeChatClient,
  OmeChatClientOptions,
  ConnectionState,
  ClosedReason,
  EventListener,
  RawEventListener,
  WebSocketConstructor,
  RegisterOptions,
  HistoryMessage,
  MessageStatus,
} from './client.js';
export { solvePow } from '#pow';
export type { PowProgress } from './pow/solve.js';
export { MemoryMessageStore, type MessageStore, type ChatMarks } from './store/message-store.js';
export { IndexedDbMessageStore } from './store/indexed-db-message-store.js';
export type { ClientEvent, ChatMessage, ChatEncryption } from './secure.js';
export {
  MemoryKeyStore,
  IndexedDbKeyStore,
  CryptoError,
  safetyCode,
  type KeyStore,
  type CryptoErrorCode,
} from './crypto/index.js';
export { OmeChatError, toOmeChatError, SDK_ERROR_DESCRIPTIONS, type SdkErrorCode, type OmeChatErrorCode } from './errors.js';
export type {
  ErrorCode,
  Credentials,
  Me,
  ClientInfo,
  LoginOutput,
  RegisterOutput,
  ChatId,
  ChatSummary,
  ClientHash,
  OmeEvent,
  UserHash,
  ReportReason,
} from '@omechat/protocol';
export { CLOSE_CODES, ERROR_CODES, ERROR_DESCRIPTIONS } from '@omechat/protocol';
