import type { ChatId, ClientHash, DeviceBundle, Envelope, IdentityKeys, MessageId, Prekey, SignedPrekey, UserHash } from '@omechat/protocol';

/**
 * The Storage port: everything the core persists. Adapters live in
 * `src/adapters/storage/*` and each must pass the contract suite in
 * `src/adapters/storage/storage.contract.ts`.
 *
 * Rules every adapter keeps:
 * - A method that resolves has made its write durable (the core acks after it).
 * - Secrets and access tokens arrive here only as hashes; adapters never see plaintext.
 * - Returned records are copies: mutating them does not change what is stored.
 */
export interface UserRecord {
  userHash: UserHash;
  /** As the user typed it, after NFKC. */
  username: string;
  /** Lower-cased username: the unique key. */
  usernameKey: string;
  age: number;
  /** argon2id PHC string. */
  secretHash: string;
  createdAt: number;
}

export interface ClientRecord {
  clientHash: ClientHash;
  userHash: UserHash;
  /** SHA-256 of the access token, hex. */
  tokenHash: string;
  deviceName: string | null;
  createdAt: number;
  lastSeenAt: number | null;
}

export type ChatEndReason = 'left' | 'blocked' | 'banned' | 'deleted';

export interface ChatRecord {
  chatId: ChatId;
  /** The two members; order has no meaning. */
  members: [UserHash, UserHash];
  state: 'active' | 'ended';
  createdAt: number;
  endedAt: number | null;
  endReason: ChatEndReason | null;
  /** Highest seq stored in this chat (0 when empty). */
  lastSeq: number;
  lastActivityAt: number;
}

export interface MessageRecord {
  chatId: ChatId;
  messageId: MessageId;
  seq: number;
  senderUserHash: UserHash;
  senderClientHash: ClientHash;
  clientMessageId: string;
  envelope: Envelope;
  sentAt: number;
}

/** Per member read/delivery cursors of a chat. */
export interface ChatCursor {
  chatId: ChatId;
  userHash: UserHash;
  deliveredSeq: number;
  readSeq: number;
}

/**
 * A durable event in a user's stream. `id` increases strictly, across all users, in the
 * order events were appended, and is the resume cursor clients hand back.
 * `payload` is the JSON of the protocol event; for `message.new` it holds only
 * `{chatId, seq}` and the message is read from the message store.
 */
export interface StoredEvent {
  id: number;
  userHash: UserHash;
  type: string;
  payload: string;
  createdAt: number;
}

export interface NewEvent {
  userHash: UserHash;
  type: string;
  payload: string;
}

export type CreateUserResult = 'created' | 'username_taken' | 'user_exists';
export type CreateClientResult = 'created' | 'client_exists' | 'no_user';

export type AppendMessageResult =
  | { status: 'stored'; message: MessageRecord; events: StoredEvent[] }
  | { status: 'duplicate'; message: MessageRecord }
  | { status: 'chat_ended' }
  | { status: 'no_chat' };

export interface Storage {
  // --- accounts -------------------------------------------------------------
  createUser(user: UserRecord): Promise<CreateUserResult>;
  getUser(userHash: UserHash): Promise<UserRecord | null>;
  getUserByUsernameKey(usernameKey: string): Promise<UserRecord | null>;
  setSecretHash(userHash: UserHash, secretHash: string): Promise<boolean>;
  /**
   * Erases the user, their clients, events, cursors and their chats with all messages.
   * Returns the client hashes that existed, so live connections can be closed.
   */
  deleteUser(userHash: UserHash): Promise<ClientHash[]>;

  // --- clients (devices) ----------------------------------------------------
  createClient(client: ClientRecord): Promise<CreateClientResult>;
  getClient(clientHash: ClientHash): Promise<ClientRecord | null>;
  listClients(userHash: UserHash): Promise<ClientRecord[]>;
  deleteClient(clientHash: ClientHash): Promise<boolean>;
  touchClient(clientHash: ClientHash, at: number): Promise<void>;

  // --- chats ------------------------------------------------------------------
  /** Creates the chat and appends `events` (typically match.found for both) atomically. */
  createChat(chat: ChatRecord, events: NewEvent[]): Promise<StoredEvent[]>;
  getChat(chatId: ChatId): Promise<ChatRecord | null>;
  listChats(userHash: UserHash): Promise<ChatRecord[]>;
  /** True when the two users share an active chat. */
  hasActiveChat(a: UserHash, b: UserHash): Promise<boolean>;
  /** Ends an active chat and appends `events` atomically; null if it was not active. */
  endChat(
    chatId: ChatId,
    reason: ChatEndReason,
    at: number,
    events: NewEvent[],
  ): Promise<StoredEvent[] | null>;

  // --- messages ---------------------------------------------------------------
  /**
   * Stores a message with the next seq of its chat and appends its events, atomically.
   * `seq` of the given record is ignored and assigned here. A message with the same
   * (chatId, senderClientHash, clientMessageId) already stored yields `duplicate` with the
   * first record and stores nothing, even once the chat has ended: a retry still gets its ack.
   */
  appendMessage(
    message: Omit<MessageRecord, 'seq'>,
    events: (seq: number) => NewEvent[],
  ): Promise<AppendMessageResult>;
  /** Messages of a chat with fromSeq <= seq <= toSeq, ascending. */
  getMessages(chatId: ChatId, fromSeq: number, toSeq: number): Promise<MessageRecord[]>;

  // --- cursors ----------------------------------------------------------------
  getCursors(chatId: ChatId): Promise<ChatCursor[]>;
  /** Raises a cursor (never lowers it) and appends events if it moved; returns whether it moved. */
  advanceCursor(
    chatId: ChatId,
    userHash: UserHash,
    kind: 'delivered' | 'read',
    seq: number,
    events: NewEvent[],
  ): Promise<boolean>;

  // --- events -----------------------------------------------------------------
  appendEvents(events: NewEvent[]): Promise<StoredEvent[]>;
  /** Events of a user with id > afterId, ascending, at most `limit`. */
  readEvents(userHash: UserHash, afterId: number, limit: number): Promise<StoredEvent[]>;
  /** The highest event id assigned so far (0 when none). */
  lastEventId(): Promise<number>;

  // --- retention --------------------------------------------------------------
  /** Deletes messages sent before `before` and events created before it; returns counts. */
  purgeOlderThan(before: number): Promise<{ messages: number; events: number }>;

  // --- end-to-end keys (public parts only) ------------------------------------
  /**
   * Sets a device's identity keys (once: a different identity later gives
   * `identity_mismatch`) and replaces its signed prekey.
   */
  setDeviceKeys(
    clientHash: ClientHash,
    identity: IdentityKeys,
    signedPrekey: SignedPrekey,
  ): Promise<'ok' | 'identity_mismatch' | 'no_client'>;
  /** Adds one-time prekeys (ids already held are ignored); returns how many the device holds. */
  addOneTimePrekeys(clientHash: ClientHash, prekeys: Prekey[]): Promise<number>;
  countOneTimePrekeys(clientHash: ClientHash): Promise<number>;
  /** Identity keys of each device of a user that has uploaded them. */
  listDeviceIdentities(userHash: UserHash): Promise<{ clientHash: ClientHash; identity: IdentityKeys }[]>;
  /**
   * A prekey bundle for each device of a user that has keys, atomically taking (deleting)
   * one one-time prekey per device, so none is ever handed out twice.
   */
  takeBundles(userHash: UserHash): Promise<DeviceBundle[]>;

  /** Flushes and closes. Calls after close reject. */
  close(): Promise<void>;
}
