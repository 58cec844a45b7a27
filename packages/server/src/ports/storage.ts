import type { ChatId, ClientHash, DeviceBundle, Envelope, IdentityKeys, MessageId, Prekey, SignedPrekey, UserHash } from '@omechat/protocol';
import type { BanLayer, ReportReason } from '@omechat/protocol';

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
 * A durable event in a user's stream. `id` is its position in that user's stream: ids of one
 * user increase by one per event, in commit order, and are never reused (every user has
 * their own sequence, so appends for different users share no counter or lock). It is the
 * resume cursor a device hands back. `payload` is the JSON of the protocol event.
 * A message is not an event row: it is stored once, in its chat, with its position in each
 * member's stream, and read back as a stream entry (see `readStream`).
 */
export interface StoredEvent {
  id: number;
  userHash: UserHash;
  type: string;
  payload: string;
  createdAt: number;
}

/** What a user's stream holds at one position: an event, or a message of one of their chats. */
export type StreamEntry = StoredEvent | { id: number; userHash: UserHash; message: MessageRecord };

export interface NewEvent {
  userHash: UserHash;
  type: string;
  payload: string;
}

export type CreateUserResult = 'created' | 'username_taken' | 'user_exists';
export type CreateClientResult = 'created' | 'client_exists' | 'no_user';

export type AppendMessageResult =
  /** `streamIds`: the message's id in each member's stream, in the chat's member order. */
  | { status: 'stored'; message: MessageRecord; streamIds: [number, number] }
  | { status: 'duplicate'; message: MessageRecord }
  | { status: 'chat_ended' }
  | { status: 'no_chat' };

export interface Storage {
  /** Resolves when the store can serve calls now; readiness probes ask. Absent: always. */
  ping?(): Promise<void>;
  // --- accounts -------------------------------------------------------------
  createUser(user: UserRecord): Promise<CreateUserResult>;
  getUser(userHash: UserHash): Promise<UserRecord | null>;
  getUserByUsernameKey(usernameKey: string): Promise<UserRecord | null>;
  setSecretHash(userHash: UserHash, secretHash: string): Promise<boolean>;
  /**
   * Erases the user, their clients (and keys), their stream and cursors, the blocks and sightings
   * naming them and the reports they made. Returns the client hashes that existed, so live
   * connections can be closed.
   * Kept, as evidence and for the peer: bans and audit entries; reports against the user
   * (marked `reportedDeletedAt = at`, purged by `purgeReportsOfDeletedUsers` later); and each
   * chat whose other member still has an account, with its messages (it stays in the
   * peer's list, ended). A chat whose other member is gone too is erased with its messages.
   */
  deleteUser(userHash: UserHash, at: number): Promise<ClientHash[]>;

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
   * Stores a message with the next seq of its chat and the next id in each member's stream,
   * atomically. `seq` of the given record is ignored and assigned here. A message with the same
   * (chatId, senderClientHash, clientMessageId) already stored yields `duplicate` with the
   * first record and stores nothing, even once the chat has ended: a retry still gets its ack.
   */
  appendMessage(message: Omit<MessageRecord, 'seq'>): Promise<AppendMessageResult>;
  /** Messages of a chat with fromSeq <= seq <= toSeq, ascending. */
  getMessages(chatId: ChatId, fromSeq: number, toSeq: number): Promise<MessageRecord[]>;

  // --- cursors ----------------------------------------------------------------
  getCursors(chatId: ChatId): Promise<ChatCursor[]>;
  /** Raises a cursor (never lowers it) and appends events if it moved; null if it did not. */
  advanceCursor(
    chatId: ChatId,
    userHash: UserHash,
    kind: 'delivered' | 'read',
    seq: number,
    events: NewEvent[],
  ): Promise<StoredEvent[] | null>;

  // --- events -----------------------------------------------------------------
  appendEvents(events: NewEvent[]): Promise<StoredEvent[]>;
  /** A user's stream after `afterId`: events and messages, ascending by id, at most `limit`. */
  readStream(userHash: UserHash, afterId: number, limit: number): Promise<StreamEntry[]>;
  /** The highest id assigned in a user's stream so far (0 when none). */
  streamHead(userHash: UserHash): Promise<number>;

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

  // --- moderation -------------------------------------------------------------
  // Blocks, reports, bans, the audit log and network sightings. Bans and the audit log
  // outlive `deleteUser` (a ban must stop re-registration); blocks, reports and sightings
  // naming the user do not. Integer ids are assigned here and never reused.

  /** Records that `blocker` blocked `blocked`; false if that block already existed. */
  addBlock(block: BlockRecord): Promise<boolean>;
  removeBlock(blocker: UserHash, blocked: UserHash): Promise<boolean>;
  /** Blocks in which the user is either the blocker or the blocked. */
  listBlocks(userHash: UserHash): Promise<BlockRecord[]>;

  /** Stores a report; null when this reporter already reported this chat. */
  createReport(report: NewReport): Promise<ReportRecord | null>;
  getReport(reportId: number): Promise<ReportRecord | null>;
  /** Unresolved first, then urgent first, then oldest first. */
  listReports(query: ReportQuery): Promise<ReportRecord[]>;
  /**
   * Resolves an open report and appends the audit entry `audit` builds, atomically;
   * null (and no entry) when there is no such open report.
   */
  resolveReport(
    reportId: number,
    resolution: ReportResolution,
    audit: (report: ReportRecord) => NewAuditRecord,
  ): Promise<ReportRecord | null>;
  /** Erases reports whose reported user deleted their account before `before`; returns how many. */
  purgeReportsOfDeletedUsers(before: number): Promise<number>;
  /** Distinct users who reported `reported` at or after `since`. */
  countReporters(reported: UserHash, since: number): Promise<number>;
  /** Reports against `reported` made at or after `since`, oldest first (the evidence for escalation). */
  listReportsAgainst(reported: UserHash, since: number): Promise<ReportRecord[]>;
  /** How many reports `reporter` made that a moderator dismissed (a reporter's history). */
  countDismissedReports(reporter: UserHash): Promise<number>;

  /**
   * Stores a ban, one child ban per `cascade` target (same reason, issuer and expiry,
   * `parentBanId` set), and the audit entry `audit` builds from them, atomically.
   * Returns the ban followed by its children.
   */
  createBan(
    ban: NewBan,
    cascade: { layer: BanLayer; target: string }[],
    audit: (bans: BanRecord[]) => NewAuditRecord,
  ): Promise<BanRecord[]>;
  /**
   * Revokes a ban and its unrevoked children, with its audit entry, atomically; null (and
   * no entry) when the ban does not exist or was already revoked.
   */
  revokeBan(
    banId: number,
    revocation: { at: number; by: string },
    audit: (ban: BanRecord) => NewAuditRecord,
  ): Promise<BanRecord | null>;
  /** Newest first. `activeAt`: only bans neither revoked nor expired at that time. */
  listBans(query: BanQuery): Promise<BanRecord[]>;

  /** Appends an entry on its own (for events that change nothing else, such as a lockout). */
  appendAudit(entry: NewAuditRecord): Promise<void>;
  /** Newest first. There is no way to change or remove an entry. */
  listAudit(query: { beforeId?: number | undefined; limit: number }): Promise<AuditRecord[]>;

  /** Notes that a device connected from a network (keyed hash); keeps the latest 32 per user. */
  recordSighting(sighting: SightingRecord): Promise<void>;
  /** Most recent first. */
  listSightings(userHash: UserHash): Promise<SightingRecord[]>;

  /** Flushes and closes. Calls after close reject. */
  close(): Promise<void>;
}

// --- moderation ---------------------------------------------------------------

export interface BlockRecord {
  blockerUserHash: UserHash;
  blockedUserHash: UserHash;
  createdAt: number;
}

export interface DisclosedMessageRecord {
  seq: number;
  /** As the reporter typed or decrypted it: the server cannot check it. */
  text: string;
  /** Who sent that seq, from the server's own records; null if it was purged or never existed. */
  sender: UserHash | null;
}

export interface ReportRecord {
  reportId: number;
  chatId: ChatId;
  reporterUserHash: UserHash;
  reportedUserHash: UserHash;
  reason: ReportReason;
  urgent: boolean;
  note: string | null;
  disclosed: DisclosedMessageRecord[];
  createdAt: number;
  resolvedAt: number | null;
  resolution: 'actioned' | 'dismissed' | null;
  resolvedBy: string | null;
  resolutionNote: string | null;
  /** When the reported user deleted their account (null while it exists). */
  reportedDeletedAt: number | null;
}
export type NewReport = Omit<ReportRecord, 'reportId' | 'resolvedAt' | 'resolution' | 'resolvedBy' | 'resolutionNote'>;
export interface ReportResolution {
  resolvedAt: number;
  resolution: 'actioned' | 'dismissed';
  resolvedBy: string;
  resolutionNote: string | null;
}
export interface ReportQuery {
  status: 'open' | 'resolved' | 'all';
  limit: number;
  offset: number;
}

export interface BanRecord {
  banId: number;
  layer: BanLayer;
  /** userHash (account), clientHash or identity key (device), network key (network). */
  target: string;
  reason: string;
  /** 'system' for automatic suspensions, else the moderator. */
  issuer: string;
  createdAt: number;
  /** null: permanent. */
  expiresAt: number | null;
  revokedAt: number | null;
  revokedBy: string | null;
  parentBanId: number | null;
}
export type NewBan = Pick<BanRecord, 'layer' | 'target' | 'reason' | 'issuer' | 'createdAt' | 'expiresAt'>;
export interface BanQuery {
  activeAt?: number | undefined;
  layer?: BanLayer | undefined;
  target?: string | undefined;
  /** Omit for all. */
  limit?: number | undefined;
  offset?: number | undefined;
}

export type AuditAction = 'ban.create' | 'ban.revoke' | 'report.resolve' | 'suspension' | 'admin.lockout';
export interface AuditRecord {
  auditId: number;
  at: number;
  actor: string;
  action: AuditAction;
  subject: string;
  details: Record<string, unknown>;
}
export type NewAuditRecord = Omit<AuditRecord, 'auditId'>;

export interface SightingRecord {
  userHash: UserHash;
  clientHash: ClientHash;
  networkKey: string;
  lastSeenAt: number;
}
