import type { BanLayer, UserHash } from '@omechat/protocol';
import type { AuditRecord, BanQuery, BanRecord, BlockRecord, NewAuditRecord, NewBan, NewReport, ReportQuery, ReportRecord, ReportResolution, SightingRecord, ModerationStore } from '../../../ports/storage.js';
import { compare, copy, type MemoryTables } from './tables.js';

const SIGHTINGS_PER_USER = 32;

/** The moderation tables of MemoryStorage (blocks, reports, bans, audit log, sightings). */
export class MemoryModeration implements ModerationStore {
  readonly #blocks = new Map<string, BlockRecord>();
  readonly #reports = new Map<number, ReportRecord>();
  readonly #bans = new Map<number, BanRecord>();
  readonly #audit: AuditRecord[] = [];
  readonly #sightings = new Map<string, SightingRecord>();
  #lastReportId = 0;
  #lastBanId = 0;
  #lastAuditId = 0;

  constructor(private readonly db: MemoryTables) {}

  /** What deleteUser erases: everything naming the user except bans and the audit log. */
  eraseUser(userHash: UserHash, at: number): void {
    for (const [key, b] of this.#blocks) {
      if (b.blockerUserHash === userHash || b.blockedUserHash === userHash) this.#blocks.delete(key);
    }
    for (const [id, r] of this.#reports) {
      if (r.reporterUserHash === userHash) this.#reports.delete(id);
      else if (r.reportedUserHash === userHash) r.reportedDeletedAt ??= at;
    }
    for (const [key, s] of this.#sightings) if (s.userHash === userHash) this.#sightings.delete(key);
  }

  async addBlock(block: BlockRecord): Promise<boolean> {
    this.db.assertOpen();
    const key = `${block.blockerUserHash} ${block.blockedUserHash}`;
    if (this.#blocks.has(key)) return false;
    this.#blocks.set(key, copy(block));
    return true;
  }

  async removeBlock(blocker: UserHash, blocked: UserHash): Promise<boolean> {
    this.db.assertOpen();
    return this.#blocks.delete(`${blocker} ${blocked}`);
  }

  async listBlocks(userHash: UserHash): Promise<BlockRecord[]> {
    this.db.assertOpen();
    return [...this.#blocks.values()]
      .filter((b) => b.blockerUserHash === userHash || b.blockedUserHash === userHash)
      .map(copy);
  }

  async createReport(report: NewReport): Promise<ReportRecord | null> {
    this.db.assertOpen();
    for (const r of this.#reports.values()) {
      if (r.chatId === report.chatId && r.reporterUserHash === report.reporterUserHash) return null;
    }
    const stored: ReportRecord = {
      ...copy(report),
      reportId: ++this.#lastReportId,
      resolvedAt: null,
      resolution: null,
      resolvedBy: null,
      resolutionNote: null,
    };
    this.#reports.set(stored.reportId, stored);
    return copy(stored);
  }

  async purgeReportsOfDeletedUsers(before: number): Promise<number> {
    this.db.assertOpen();
    let purged = 0;
    for (const [id, r] of this.#reports) {
      if (r.reportedDeletedAt !== null && r.reportedDeletedAt < before && this.#reports.delete(id)) purged++;
    }
    return purged;
  }

  async getReport(reportId: number): Promise<ReportRecord | null> {
    this.db.assertOpen();
    const r = this.#reports.get(reportId);
    return r ? copy(r) : null;
  }

  async listReports({ status, limit, offset }: ReportQuery): Promise<ReportRecord[]> {
    this.db.assertOpen();
    const open = (r: ReportRecord) => r.resolvedAt === null;
    return [...this.#reports.values()]
      .filter((r) => status === 'all' || (status === 'open') === open(r))
      .sort(
        (a, b) =>
          Number(open(b)) - Number(open(a)) ||
          Number(b.urgent) - Number(a.urgent) ||
          a.createdAt - b.createdAt ||
          a.reportId - b.reportId,
      )
      .slice(offset, offset + limit)
      .map(copy);
  }

  async resolveReport(reportId: number, resolution: ReportResolution, audit: (r: ReportRecord) => NewAuditRecord): Promise<ReportRecord | null> {
    this.db.assertOpen();
    const r = this.#reports.get(reportId);
    if (!r || r.resolvedAt !== null) return null;
    const resolved = { ...r, ...resolution };
    const entry = audit(copy(resolved)); // built first: a builder that throws changes nothing
    this.#reports.set(reportId, resolved);
    this.#appendAudit(entry);
    return copy(resolved);
  }

  async countReporters(reported: UserHash, since: number): Promise<number> {
    this.db.assertOpen();
    const reporters = new Set<UserHash>();
    for (const r of this.#reports.values()) {
      if (r.reportedUserHash === reported && r.createdAt >= since) reporters.add(r.reporterUserHash);
    }
    return reporters.size;
  }

  async listReportsAgainst(reported: UserHash, since: number): Promise<ReportRecord[]> {
    this.db.assertOpen();
    return [...this.#reports.values()]
      .filter((r) => r.reportedUserHash === reported && r.createdAt >= since)
      .sort((a, b) => a.createdAt - b.createdAt || a.reportId - b.reportId)
      .map(copy);
  }

  async countDismissedReports(reporter: UserHash): Promise<number> {
    this.db.assertOpen();
    return [...this.#reports.values()].filter((r) => r.reporterUserHash === reporter && r.resolution === 'dismissed').length;
  }

  async createBan(ban: NewBan, cascade: { layer: BanLayer; target: string }[], audit: (bans: BanRecord[]) => NewAuditRecord): Promise<BanRecord[]> {
    this.db.assertOpen();
    const base = { ...copy(ban), revokedAt: null, revokedBy: null };
    const parent: BanRecord = { ...base, banId: this.#lastBanId + 1, parentBanId: null };
    const children = cascade.map(
      (c, i): BanRecord => ({ ...base, layer: c.layer, target: c.target, banId: parent.banId + 1 + i, parentBanId: parent.banId }),
    );
    const all = [parent, ...children];
    const entry = audit(copy(all));
    this.#lastBanId += all.length;
    for (const b of all) this.#bans.set(b.banId, b);
    this.#appendAudit(entry);
    return copy(all);
  }

  async revokeBan(banId: number, revocation: { at: number; by: string }, audit: (ban: BanRecord) => NewAuditRecord): Promise<BanRecord | null> {
    this.db.assertOpen();
    const ban = this.#bans.get(banId);
    if (!ban || ban.revokedAt !== null) return null;
    const revoked = { ...ban, revokedAt: revocation.at, revokedBy: revocation.by };
    const entry = audit(copy(revoked));
    this.#bans.set(banId, revoked);
    for (const child of this.#bans.values()) {
      if (child.parentBanId === banId && child.revokedAt === null) {
        this.#bans.set(child.banId, { ...child, revokedAt: revocation.at, revokedBy: revocation.by });
      }
    }
    this.#appendAudit(entry);
    return copy(revoked);
  }

  async listBans({ activeAt, layer, target, limit, offset = 0 }: BanQuery): Promise<BanRecord[]> {
    this.db.assertOpen();
    const active = (b: BanRecord) =>
      activeAt === undefined || (b.revokedAt === null && (b.expiresAt === null || b.expiresAt > activeAt));
    const found = [...this.#bans.values()]
      .filter((b) => active(b) && (layer === undefined || b.layer === layer) && (target === undefined || b.target === target))
      .sort((a, b) => b.createdAt - a.createdAt || b.banId - a.banId);
    return found.slice(offset, limit === undefined ? undefined : offset + limit).map(copy);
  }

  async listAudit({ beforeId, limit }: { beforeId?: number | undefined; limit: number }): Promise<AuditRecord[]> {
    this.db.assertOpen();
    const out: AuditRecord[] = [];
    for (let i = this.#audit.length - 1; i >= 0 && out.length < limit; i--) {
      const entry = this.#audit[i]!;
      if (beforeId === undefined || entry.auditId < beforeId) out.push(copy(entry));
    }
    return out;
  }

  async recordSighting(s: SightingRecord): Promise<void> {
    this.db.assertOpen();
    this.#sightings.set(`${s.clientHash} ${s.networkKey}`, copy(s));
    const mine = await this.listSightings(s.userHash);
    for (const old of mine.slice(SIGHTINGS_PER_USER)) this.#sightings.delete(`${old.clientHash} ${old.networkKey}`);
  }

  async listSightings(userHash: UserHash): Promise<SightingRecord[]> {
    this.db.assertOpen();
    return [...this.#sightings.values()]
      .filter((s) => s.userHash === userHash)
      .sort((a, b) => b.lastSeenAt - a.lastSeenAt || compare(a.networkKey, b.networkKey) || compare(a.clientHash, b.clientHash))
      .map(copy);
  }

  async appendAudit(entry: NewAuditRecord): Promise<void> {
    this.db.assertOpen();
    this.#appendAudit(entry);
  }

  #appendAudit(entry: NewAuditRecord): void {
    this.#audit.push({ ...copy(entry), auditId: ++this.#lastAuditId });
  }
}
