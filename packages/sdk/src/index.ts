export { createOmeChatClient, defaultRetryDelay } from './client.js';
export type { OmeChatClient, OmeChatClientOptions, ConnectionState, ClosedReason } from './client.js';
export { OmeChatError, toOmeChatError } from './errors.js';
export type { ErrorCode, Credentials, Me, ClientInfo, LoginOutput, RegisterOutput } from '@omechat/protocol';
