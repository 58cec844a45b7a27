import type { BanLayer, ChatId, ClientHash, ReportReason, UserHash } from '@omechat/protocol';

/**
 * Blocks, reports, bans, the audit log and network sightings. Bans and the audit log
 * outlive `deleteUser` (a ban must stop re-registration); blocks, reports and sightings
 * naming the user do not. Integer ids are assigned here and never reused.
 */
export interface ModerationStore {
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
}

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
