import type { BanLayer, UserHash } from '@omechat/protocol';
import type { AuditRecord, BanQuery, BanRecord, BlockRecord, NewAuditRecord, NewBan, NewReport, ReportQuery, ReportRecord, ReportResolution, SightingRecord, ModerationStore } from '../../../ports/storage.js';
import type { PostgresConnection, Sql } from './connection.js';

const SIGHTINGS_PER_USER = 32;
/** Advisory lock class for "one sighting write per user at a time" (the second key is the user). */
const SIGHTING_LOCK_CLASS = 0x0e_c4a8;

const BLOCK = 'blocker_user_hash AS "blockerUserHash", blocked_user_hash AS "blockedUserHash", created_at AS "createdAt"';
const REPORT = `report_id AS "reportId", chat_id AS "chatId", reporter_user_hash AS "reporterUserHash",
  reported_user_hash AS "reportedUserHash", reason, urgent, note, disclosed, created_at AS "createdAt",
  resolved_at AS "resolvedAt", resolution, resolved_by AS "resolvedBy", resolution_note AS "resolutionNote",
  reported_deleted_at AS "reportedDeletedAt"`;
const BAN = `ban_id AS "banId", layer, target, reason, issuer, created_at AS "createdAt", expires_at AS "expiresAt",
  revoked_at AS "revokedAt", revoked_by AS "revokedBy", parent_ban_id AS "parentBanId"`;
const AUDIT = 'audit_id AS "auditId", at, actor, action, subject, details';
const SIGHTING = 'user_hash AS "userHash", client_hash AS "clientHash", network_key AS "networkKey", last_seen_at AS "lastSeenAt"';

/** Only inside the caller's transaction (deleteUser): what names the user, except bans and the audit log. */
export async function eraseModerationOf(sql: Sql, userHash: UserHash, at: number): Promise<void> {
  await sql.query('DELETE FROM blocks WHERE blocker_user_hash = $1 OR blocked_user_hash = $1', [userHash]);
  await sql.query('DELETE FROM reports WHERE reporter_user_hash = $1', [userHash]);
  await sql.query('UPDATE reports SET reported_deleted_at = $2 WHERE reported_user_hash = $1 AND reported_deleted_at IS NULL', [userHash, at]);
  await sql.query('DELETE FROM sightings WHERE user_hash = $1', [userHash]);
}

/**
 * The moderation tables of PostgresStorage (migration 3). jsonb columns (disclosed, details)
 * come back freshly parsed, so records handed out are always copies.
 */
export class PostgresModeration implements ModerationStore {
  constructor(private readonly db: PostgresConnection) {}

  addBlock(block: BlockRecord): Promise<boolean> {
    return this.db.changed(
      `INSERT INTO blocks (blocker_user_hash, blocked_user_hash, created_at) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING`,
      [block.blockerUserHash, block.blockedUserHash, block.createdAt],
    );
  }


  removeBlock(blocker: UserHash, blocked: UserHash): Promise<boolean> {
    return this.db.changed('DELETE FROM blocks WHERE blocker_user_hash = $1 AND blocked_user_hash = $2', [blocker, blocked]);
  }


  listBlocks(userHash: UserHash): Promise<BlockRecord[]> {
    return this.db.all<BlockRecord>(
      `SELECT ${BLOCK} FROM blocks WHERE blocker_user_hash = $1 OR blocked_user_hash = $1
       ORDER BY created_at, blocker_user_hash, blocked_user_hash`,
      [userHash],
    );
  }


  createReport(r: NewReport): Promise<ReportRecord | null> {
    return this.db.one<ReportRecord>(
      `INSERT INTO reports (chat_id, reporter_user_hash, reported_user_hash, reason, urgent, note, disclosed, created_at, reported_deleted_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (chat_id, reporter_user_hash) DO NOTHING
       RETURNING ${REPORT}`,
      [r.chatId, r.reporterUserHash, r.reportedUserHash, r.reason, r.urgent, r.note, JSON.stringify(r.disclosed), r.createdAt, r.reportedDeletedAt],
    );
  }


  purgeReportsOfDeletedUsers(before: number): Promise<number> {
    return this.db.read(async (sql) => (await sql.query('DELETE FROM reports WHERE reported_deleted_at < $1', [before])).rowCount ?? 0);
  }

  getReport(reportId: number): Promise<ReportRecord | null> {
    return this.db.one<ReportRecord>(`SELECT ${REPORT} FROM reports WHERE report_id = $1`, [reportId]);
  }


  listReports({ status, limit, offset }: ReportQuery): Promise<ReportRecord[]> {
    return this.db.all<ReportRecord>(
      `SELECT ${REPORT} FROM reports
       WHERE ($1 AND resolved_at IS NULL) OR ($2 AND resolved_at IS NOT NULL)
       ORDER BY resolved_at IS NULL DESC, urgent DESC, created_at, report_id
       LIMIT $3 OFFSET $4`,
      [status !== 'resolved', status !== 'open', Math.max(0, limit), Math.max(0, offset)],
    );
  }


  resolveReport(
    reportId: number,
    resolution: ReportResolution,
    audit: (r: ReportRecord) => NewAuditRecord,
  ): Promise<ReportRecord | null> {
    return this.db.tx(async (sql) => {
      const { rows } = await sql.query<ReportRecord>(
        `UPDATE reports SET resolved_at = $2, resolution = $3, resolved_by = $4, resolution_note = $5
         WHERE report_id = $1 AND resolved_at IS NULL
         RETURNING ${REPORT}`,
        [reportId, resolution.resolvedAt, resolution.resolution, resolution.resolvedBy, resolution.resolutionNote],
      );
      const report = rows[0];
      if (!report) return null;
      await appendAudit(sql, audit(structuredClone(report)));
      return report;
    });
  }

  async countReporters(reported: UserHash, since: number): Promise<number> {
    const row = await this.db.one<{ n: number }>(
      'SELECT count(DISTINCT reporter_user_hash) AS n FROM reports WHERE reported_user_hash = $1 AND created_at >= $2',
      [reported, since],
    );
    return row?.n ?? 0;
  }


  listReportsAgainst(reported: UserHash, since: number): Promise<ReportRecord[]> {
    return this.db.all<ReportRecord>(
      `SELECT ${REPORT} FROM reports WHERE reported_user_hash = $1 AND created_at >= $2 ORDER BY created_at, report_id`,
      [reported, since],
    );
  }


  async countDismissedReports(reporter: UserHash): Promise<number> {
    const row = await this.db.one<{ n: number }>("SELECT count(*) AS n FROM reports WHERE reporter_user_hash = $1 AND resolution = 'dismissed'", [
      reporter,
    ]);
    return row?.n ?? 0;
  }


  createBan(
    ban: NewBan,
    cascade: { layer: BanLayer; target: string }[],
    audit: (bans: BanRecord[]) => NewAuditRecord,
  ): Promise<BanRecord[]> {
    return this.db.tx(async (sql) => {
      const parent = await sql.query<BanRecord>(
        `INSERT INTO bans (layer, target, reason, issuer, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING ${BAN}`,
        [ban.layer, ban.target, ban.reason, ban.issuer, ban.createdAt, ban.expiresAt],
      );
      const bans = [parent.rows[0]!];
      if (cascade.length > 0) {
        const children = await sql.query<BanRecord>(
          `INSERT INTO bans (layer, target, reason, issuer, created_at, expires_at, parent_ban_id)
           SELECT c.layer, c.target, $3, $4, $5, $6, $7
           FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS c(layer, target, n) ORDER BY c.n
           RETURNING ${BAN}`,
          [
            cascade.map((c) => c.layer),
            cascade.map((c) => c.target),
            ban.reason,
            ban.issuer,
            ban.createdAt,
            ban.expiresAt,
            bans[0]!.banId,
          ],
        );
        // Identity values follow the ORDER BY of the inserting SELECT: ascending ids are
        // the cascade's order.
        bans.push(...children.rows.sort((a, b) => a.banId - b.banId));
      }
      await appendAudit(sql, audit(structuredClone(bans)));
      return bans;
    });
  }

  revokeBan(
    banId: number,
    revocation: { at: number; by: string },
    audit: (ban: BanRecord) => NewAuditRecord,
  ): Promise<BanRecord | null> {
    return this.db.tx(async (sql) => {
      // Locking the parent first means two revocations of one ban cannot both write an entry.
      const current = await sql.query<BanRecord>(`SELECT ${BAN} FROM bans WHERE ban_id = $1 FOR UPDATE`, [banId]);
      if (!current.rows[0] || current.rows[0].revokedAt !== null) return null;
      const { rows } = await sql.query<BanRecord>(
        `UPDATE bans SET revoked_at = $2, revoked_by = $3
         WHERE (ban_id = $1 OR parent_ban_id = $1) AND revoked_at IS NULL
         RETURNING ${BAN}`,
        [banId, revocation.at, revocation.by],
      );
      const revoked = rows.find((b) => b.banId === banId)!;
      await appendAudit(sql, audit(structuredClone(revoked)));
      return revoked;
    });
  }

  listBans({ activeAt, layer, target, limit, offset }: BanQuery): Promise<BanRecord[]> {
    return this.db.all<BanRecord>(
      `SELECT ${BAN} FROM bans
       WHERE ($1::bigint IS NULL OR (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)))
         AND ($2::text IS NULL OR layer = $2) AND ($3::text IS NULL OR target = $3)
       ORDER BY created_at DESC, ban_id DESC
       LIMIT $4 OFFSET $5`,
      // LIMIT NULL is "no limit".
      [activeAt ?? null, layer ?? null, target ?? null, limit === undefined ? null : Math.max(0, limit), Math.max(0, offset ?? 0)],
    );
  }


  appendAudit(entry: NewAuditRecord): Promise<void> {
    return this.db.read((sql) => appendAudit(sql, entry));
  }

  listAudit({ beforeId, limit }: { beforeId?: number | undefined; limit: number }): Promise<AuditRecord[]> {
    return this.db.all<AuditRecord>(
      `SELECT ${AUDIT} FROM audit_log WHERE ($1::bigint IS NULL OR audit_id < $1) ORDER BY audit_id DESC LIMIT $2`,
      [beforeId ?? null, Math.max(0, limit)],
    );
  }


  recordSighting(sighting: SightingRecord): Promise<void> {
    return this.db.tx(async (sql) => {
      // Two connections of one user at once would each trim without seeing the other's row.
      await sql.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SIGHTING_LOCK_CLASS, sighting.userHash]);
      await sql.query(
        `INSERT INTO sightings (client_hash, network_key, user_hash, last_seen_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (client_hash, network_key) DO UPDATE SET last_seen_at = excluded.last_seen_at`,
        [sighting.clientHash, sighting.networkKey, sighting.userHash, sighting.lastSeenAt],
      );
      await sql.query(
        `DELETE FROM sightings WHERE user_hash = $1 AND (client_hash, network_key) NOT IN (
           SELECT client_hash, network_key FROM sightings WHERE user_hash = $1
           ORDER BY last_seen_at DESC, network_key, client_hash LIMIT $2)`,
        [sighting.userHash, SIGHTINGS_PER_USER],
      );
    });
  }

  listSightings(userHash: UserHash): Promise<SightingRecord[]> {
    return this.db.all<SightingRecord>(
      `SELECT ${SIGHTING} FROM sightings WHERE user_hash = $1 ORDER BY last_seen_at DESC, network_key, client_hash`,
      [userHash],
    );
  }

}

/** The audit log is only ever appended to (the database refuses the rest, see migration 3). */
async function appendAudit(sql: Sql, entry: NewAuditRecord): Promise<void> {
  await sql.query('INSERT INTO audit_log (at, actor, action, subject, details) VALUES ($1, $2, $3, $4, $5)', [
    entry.at,
    entry.actor,
    entry.action,
    entry.subject,
    JSON.stringify(entry.details),
  ]);
}
