import type { AccountStore } from './storage/accounts.js';
import type { ChatStore } from './storage/chats.js';
import type { KeyStore } from './storage/keys.js';
import type { ModerationStore } from './storage/moderation.js';
import type { StreamStore } from './storage/streams.js';

export type * from './storage/accounts.js';
export type * from './storage/chats.js';
export type * from './storage/keys.js';
export type * from './storage/moderation.js';
export type * from './storage/streams.js';

/**
 * The Storage port: everything the core persists, one store per concern (`./storage/*.ts`).
 * A core service asks only for the stores it uses (`Pick<Storage, 'accounts'>`). Adapters live
 * in `src/adapters/storage/<name>/`, one file per store over one shared connection, and each
 * must pass the contract suite in `src/adapters/storage/contract/`.
 *
 * Rules every adapter keeps:
 * - A method that resolves has made its write durable (the core acks after it).
 * - Secrets and access tokens arrive here only as hashes; adapters never see plaintext.
 * - Returned records are copies: mutating them does not change what is stored.
 * - A write that spans stores (deleteUser erases what names the user everywhere, createChat
 *   appends to streams) is one transaction, done by the store that owns the call.
 */
export interface Storage {
  readonly accounts: AccountStore;
  readonly chats: ChatStore;
  readonly streams: StreamStore;
  readonly keys: KeyStore;
  readonly moderation: ModerationStore;
  /** Resolves when the store can serve calls now; readiness probes ask. Absent: always. */
  ping?(): Promise<void>;
  /** Flushes and closes. Calls after close reject. */
  close(): Promise<void>;
}
