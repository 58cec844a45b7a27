import type { Database } from 'better-sqlite3';
import type { BanLayer, ChatId, ReportReason, UserHash } from '@omechat/protocol';
import type { AuditRecord, BanQuery, BanRecord, BlockRecord, DisclosedMessageRecord, NewAuditRecord, NewBan, NewReport, ReportQuery, ReportRecord, ReportResolution, SightingRecord, ModerationStore } from '../../../ports/storage.js';
import type { SqliteConnection } from './connection.js';

const SIGHTINGS_PER_USER = 32;

const BLOCK = 'blocker_user_hash AS blockerUserHash, blocked_user_hash AS blockedUserHash, created_at AS createdAt';
const REPORT = `report_id AS reportId, chat_id AS chatId, reporter_user_hash AS reporterUserHash,
  reported_user_hash AS reportedUserHash, reason, urgent, note, disclosed, created_at AS createdAt,
  resolved_at AS resolvedAt, resolution, resolved_by AS resolvedBy, resolution_note AS resolutionNote,
  reported_deleted_at AS reportedDeletedAt`;
const BAN = `ban_id AS banId, layer, target, reason, issuer, created_at AS createdAt, expires_at AS expiresAt,
  revoked_at AS revokedAt, revoked_by AS revokedBy, parent_ban_id AS parentBanId`;
const AUDIT = 'audit_id AS auditId, at, actor, action, subject, details';
const SIGHTING = 'user_hash AS userHash, client_hash AS clientHash, network_key AS networkKey, last_seen_at AS lastSeenAt';

interface ReportRow extends Omit<ReportRecord, 'urgent' | 'disclosed'> {
  urgent: number;
  disclosed: string;
}
interface AuditRow extends Omit<AuditRecord, 'details'> {
  details: string;
}

const toReport = (row: ReportRow): ReportRecord => ({
  ...row,
  urgent: row.urgent === 1,
  disclosed: JSON.parse(row.disclosed) as DisclosedMessageRecord[],
});
const toAudit = (row: AuditRow): AuditRecord => ({ ...row, details: JSON.parse(row.details) as Record<string, unknown> });

function prepare(db: Database) {
  return {
    insertBlock: db.prepare<BlockRecord>(
      `INSERT OR IGNORE INTO blocks (blocker_user_hash, blocked_user_hash, created_at)
       VALUES (@blockerUserHash, @blockedUserHash, @createdAt)`,
    ),
    deleteBlock: db.prepare<[UserHash, UserHash]>('DELETE FROM blocks WHERE blocker_user_hash = ? AND blocked_user_hash = ?'),
    listBlocks: db.prepare<{ u: UserHash }, BlockRecord>(
      `SELECT ${BLOCK} FROM blocks WHERE blocker_user_hash = @u OR blocked_user_hash = @u ORDER BY created_at`,
    ),
    eraseBlocks: db.prepare<{ u: UserHash }>('DELETE FROM blocks WHERE blocker_user_hash = @u OR blocked_user_hash = @u'),

    insertReport: db.prepare<[ChatId, UserHash, UserHash, ReportReason, number, string | null, string, number, number | null]>(
      `INSERT OR IGNORE INTO reports (chat_id, reporter_user_hash, reported_user_hash, reason, urgent, note,
         disclosed, created_at, reported_deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    getReport: db.prepare<[number], ReportRow>(`SELECT ${REPORT} FROM reports WHERE report_id = ?`),
    listReports: db.prepare<{ open: number; resolved: number; limit: number; offset: number }, ReportRow>(
      `SELECT ${REPORT} FROM reports
       WHERE (@open = 1 AND resolved_at IS NULL) OR (@resolved = 1 AND resolved_at IS NOT NULL)
       ORDER BY resolved_at IS NULL DESC, urgent DESC, created_at, report_id LIMIT @limit OFFSET @offset`,
    ),
    resolveReport: db.prepare<ReportResolution & { reportId: number }>(
      `UPDATE reports SET resolved_at = @resolvedAt, resolution = @resolution, resolved_by = @resolvedBy,
         resolution_note = @resolutionNote WHERE report_id = @reportId AND resolved_at IS NULL`,
    ),
    countReporters: db
      .prepare<[UserHash, number], number>(
        'SELECT count(DISTINCT reporter_user_hash) FROM reports WHERE reported_user_hash = ? AND created_at >= ?',
      )
      .pluck(),
    listReportsAgainst: db.prepare<[UserHash, number], ReportRow>(
      `SELECT ${REPORT} FROM reports WHERE reported_user_hash = ? AND created_at >= ? ORDER BY created_at, report_id`,
    ),
    countDismissedReports: db
      .prepare<[UserHash], number>("SELECT count(*) FROM reports WHERE reporter_user_hash = ? AND resolution = 'dismissed'")
      .pluck(),
    eraseReports: db.prepare<{ u: UserHash }>('DELETE FROM reports WHERE reporter_user_hash = @u'),
    markReportedDeleted: db.prepare<{ u: UserHash; at: number }>(
      'UPDATE reports SET reported_deleted_at = @at WHERE reported_user_hash = @u AND reported_deleted_at IS NULL',
    ),
    purgeReportsOfDeleted: db.prepare<[number]>('DELETE FROM reports WHERE reported_deleted_at < ?'),

    insertBan: db.prepare<NewBan & { parentBanId: number | null }>(
      `INSERT INTO bans (layer, target, reason, issuer, created_at, expires_at, parent_ban_id)
       VALUES (@layer, @target, @reason, @issuer, @createdAt, @expiresAt, @parentBanId)`,
    ),
    getBan: db.prepare<[number], BanRecord>(`SELECT ${BAN} FROM bans WHERE ban_id = ?`),
    revokeBan: db.prepare<{ banId: number; at: number; by: string }>(
      `UPDATE bans SET revoked_at = @at, revoked_by = @by
       WHERE (ban_id = @banId OR parent_ban_id = @banId) AND revoked_at IS NULL`,
    ),
    listBans: db.prepare<
      { activeAt: number | null; layer: BanLayer | null; target: string | null; limit: number; offset: number },
      BanRecord
    >(
      `SELECT ${BAN} FROM bans
       WHERE (@activeAt IS NULL OR (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > @activeAt)))
         AND (@layer IS NULL OR layer = @layer) AND (@target IS NULL OR target = @target)
       ORDER BY created_at DESC, ban_id DESC LIMIT @limit OFFSET @offset`,
    ),

    insertAudit: db.prepare<[number, string, string, string, string]>(
      'INSERT INTO audit_log (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)',
    ),
    listAudit: db.prepare<[number, number], AuditRow>(
      `SELECT ${AUDIT} FROM audit_log WHERE audit_id < ? ORDER BY audit_id DESC LIMIT ?`,
    ),

    upsertSighting: db.prepare<SightingRecord>(
      `INSERT INTO sightings (client_hash, network_key, user_hash, last_seen_at)
       VALUES (@clientHash, @networkKey, @userHash, @lastSeenAt)
       ON CONFLICT (client_hash, network_key) DO UPDATE SET last_seen_at = excluded.last_seen_at`,
    ),
    listSightings: db.prepare<[UserHash], SightingRecord>(
      `SELECT ${SIGHTING} FROM sightings WHERE user_hash = ?
       ORDER BY last_seen_at DESC, network_key, client_hash`,
    ),
    trimSightings: db.prepare<{ u: UserHash; keep: number }>(
      `DELETE FROM sightings WHERE user_hash = @u AND (client_hash, network_key) NOT IN (
         SELECT client_hash, network_key FROM sightings WHERE user_hash = @u
         ORDER BY last_seen_at DESC, network_key, client_hash LIMIT @keep)`,
    ),
    eraseSightings: db.prepare<[UserHash]>('DELETE FROM sightings WHERE user_hash = ?'),
  };
}

/**
 * The moderation tables of SqliteStorage (migration 3). `conn.write` runs its function atomically
 * and resolves once it is committed; `conn.read` throws once the database is closed.
 */
export class SqliteModeration implements ModerationStore {
  readonly #sql: ReturnType<typeof prepare>;

  constructor(private readonly conn: SqliteConnection) {
    this.#sql = prepare(conn.db);
  }

  /** Only inside the caller's write (deleteUser). */
  eraseUser(userHash: UserHash, at: number): void {
    this.#sql.eraseBlocks.run({ u: userHash });
    this.#sql.eraseReports.run({ u: userHash });
    this.#sql.markReportedDeleted.run({ u: userHash, at });
    this.#sql.eraseSightings.run(userHash);
  }

  async addBlock(block: BlockRecord): Promise<boolean> {
    return this.conn.write(() => this.#sql.insertBlock.run(block).changes > 0);
  }

  async removeBlock(blocker: UserHash, blocked: UserHash): Promise<boolean> {
    return this.conn.write(() => this.#sql.deleteBlock.run(blocker, blocked).changes > 0);
  }

  async listBlocks(userHash: UserHash): Promise<BlockRecord[]> {
    this.conn.read();
    return this.#sql.listBlocks.all({ u: userHash });
  }

  async createReport(r: NewReport): Promise<ReportRecord | null> {
    return this.conn.write(() => {
      const { changes, lastInsertRowid } = this.#sql.insertReport.run(
        r.chatId,
        r.reporterUserHash,
        r.reportedUserHash,
        r.reason,
        r.urgent ? 1 : 0,
        r.note,
        JSON.stringify(r.disclosed),
        r.createdAt,
        r.reportedDeletedAt,
      );
      return changes === 0 ? null : this.#report(Number(lastInsertRowid));
    });
  }

  async purgeReportsOfDeletedUsers(before: number): Promise<number> {
    return this.conn.write(() => this.#sql.purgeReportsOfDeleted.run(before).changes);
  }

  async getReport(reportId: number): Promise<ReportRecord | null> {
    this.conn.read();
    return this.#report(reportId);
  }

  async listReports({ status, limit, offset }: ReportQuery): Promise<ReportRecord[]> {
    this.conn.read();
    const open = status !== 'resolved' ? 1 : 0;
    const resolved = status !== 'open' ? 1 : 0;
    return this.#sql.listReports.all({ open, resolved, limit, offset }).map(toReport);
  }

  async resolveReport(reportId: number, resolution: ReportResolution, audit: (r: ReportRecord) => NewAuditRecord): Promise<ReportRecord | null> {
    return this.conn.write(() => {
      if (this.#sql.resolveReport.run({ ...resolution, reportId }).changes === 0) return null;
      const report = this.#report(reportId)!;
      this.#appendAudit(audit(report));
      return report;
    });
  }

  async countReporters(reported: UserHash, since: number): Promise<number> {
    this.conn.read();
    return this.#sql.countReporters.get(reported, since) ?? 0;
  }

  async listReportsAgainst(reported: UserHash, since: number): Promise<ReportRecord[]> {
    this.conn.read();
    return this.#sql.listReportsAgainst.all(reported, since).map(toReport);
  }

  async countDismissedReports(reporter: UserHash): Promise<number> {
    this.conn.read();
    return this.#sql.countDismissedReports.get(reporter) ?? 0;
  }

  async createBan(ban: NewBan, cascade: { layer: BanLayer; target: string }[], audit: (bans: BanRecord[]) => NewAuditRecord): Promise<BanRecord[]> {
    return this.conn.write(() => {
      const parentBanId = Number(this.#sql.insertBan.run({ ...ban, parentBanId: null }).lastInsertRowid);
      const ids = [parentBanId];
      for (const c of cascade) {
        ids.push(Number(this.#sql.insertBan.run({ ...ban, layer: c.layer, target: c.target, parentBanId }).lastInsertRowid));
      }
      const bans = ids.map((id) => this.#sql.getBan.get(id)!);
      this.#appendAudit(audit(bans));
      return bans;
    });
  }

  async revokeBan(banId: number, revocation: { at: number; by: string }, audit: (ban: BanRecord) => NewAuditRecord): Promise<BanRecord | null> {
    return this.conn.write(() => {
      const ban = this.#sql.getBan.get(banId);
      if (!ban || ban.revokedAt !== null) return null;
      this.#sql.revokeBan.run({ banId, at: revocation.at, by: revocation.by });
      const revoked = this.#sql.getBan.get(banId)!;
      this.#appendAudit(audit(revoked));
      return revoked;
    });
  }

  async listBans({ activeAt, layer, target, limit, offset }: BanQuery): Promise<BanRecord[]> {
    this.conn.read();
    return this.#sql.listBans.all({
      activeAt: activeAt ?? null,
      layer: layer ?? null,
      target: target ?? null,
      // SQLite reads a negative LIMIT as "no limit".
      limit: limit ?? -1,
      offset: offset ?? 0,
    });
  }

  async listAudit({ beforeId, limit }: { beforeId?: number | undefined; limit: number }): Promise<AuditRecord[]> {
    this.conn.read();
    return this.#sql.listAudit.all(beforeId ?? Number.MAX_SAFE_INTEGER, Math.max(0, limit)).map(toAudit);
  }

  async recordSighting(sighting: SightingRecord): Promise<void> {
    return this.conn.write(() => {
      this.#sql.upsertSighting.run(sighting);
      this.#sql.trimSightings.run({ u: sighting.userHash, keep: SIGHTINGS_PER_USER });
    });
  }

  async listSightings(userHash: UserHash): Promise<SightingRecord[]> {
    this.conn.read();
    return this.#sql.listSightings.all(userHash);
  }

  #report(reportId: number): ReportRecord | null {
    const row = this.#sql.getReport.get(reportId);
    return row ? toReport(row) : null;
  }

  async appendAudit(entry: NewAuditRecord): Promise<void> {
    return this.conn.write(() => this.#appendAudit(entry));
  }

  #appendAudit(entry: NewAuditRecord): void {
    this.#sql.insertAudit.run(entry.at, entry.actor, entry.action, entry.subject, JSON.stringify(entry.details));
  }
}
