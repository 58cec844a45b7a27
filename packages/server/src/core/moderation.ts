import {
  URGENT_REPORT_REASONS,
  type AdminBanCreate,
  type AuditEntry,
  type Ban,
  type BanLayer,
  type ChatId,
  type ClientHash,
  type ReportReason,
  type ReportRecordOut,
  type UserHash,
} from '@omechat/protocol';
import type { Bus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { AuditAction, AuditRecord, BanRecord, ChatRecord, ReportRecord, Storage } from '../ports/storage.js';
import type { Session } from './accounts.js';
import type { Chats } from './chats.js';
import { DomainError } from './domain-error.js';
import type { Matchmaking } from './matchmaking.js';
import { BanCache, BlockCache, type BanSubject } from './moderation-cache.js';
import type { RateLimits } from './rate-limits.js';
import { EVIDENCE_MESSAGES_READ, evidenceScore, type EvidenceRule, type ReportEvidence } from './report-evidence.js';
import type { Metrics } from '../ports/metrics.js';
import { hashToken, tokenMatches } from './tokens.js';

export type { BanSubject } from './moderation-cache.js';

/** The issuer of automatic suspensions; no moderator may use this name. */
export const SYSTEM_ISSUER = 'system';

export interface EscalationOptions extends EvidenceRule {
  /** The evidence score (report-evidence.ts) within `windowMs` that suspends an account. */
  reporters: number;
  windowMs: number;
  /** The first suspension; each later one lasts `factor` times the one before. */
  suspensionMs: number;
  factor: number;
  /** After this many suspensions the next one is permanent. */
  suspensionsBeforePermanent: number;
}

export interface ModerationOptions {
  /** null: the admin API is disabled. */
  adminToken: string | null;
  escalation: EscalationOptions;
}

export interface ModerationDeps {
  storage: Pick<Storage, 'accounts' | 'chats' | 'moderation'>;
  clock: Clock;
  bus: Bus;
  chats: Chats;
  matchmaking: Matchmaking;
  rateLimits: RateLimits;
  metrics: Metrics;
}

/** A connection that presented the admin token. */
export interface AdminSession {
  /** Recorded as the actor in the audit log and the issuer of bans. */
  moderator: string;
}

const MAX_DATE_MS = 8_640_000_000_000_000;

const peerOf = (chat: ChatRecord, me: UserHash) => (chat.members[0] === me ? chat.members[1] : chat.members[0]);

const LAYER_WORDS: Record<BanLayer, string> = { account: 'This account', device: 'This device', network: 'Your network' };

/** What a banned user is told: the layer and the end, never who banned them or why. */
export function bannedError(ban: Pick<BanRecord, 'layer' | 'expiresAt'>): DomainError {
  const until = ban.expiresAt === null ? 'permanently' : `until ${new Date(ban.expiresAt).toISOString()}`;
  return new DomainError('BANNED', `${LAYER_WORDS[ban.layer]} is banned ${until}`, {
    banLayer: ban.layer,
    banExpiresAt: ban.expiresAt,
  });
}

/**
 * Personal safety: blocks, reports, automatic escalation, and the multi-layer banning system
 * (account, device, network) with its enforcement and the moderators' API.
 */
export class Moderation {
  readonly #bans: BanCache;
  readonly #blocks: BlockCache;
  readonly #adminTokenHash: string | null;
  readonly #unsubscribe: () => void;
  /** Escalation runs one at a time per reported user, so two reports cannot both suspend. */
  readonly #escalating = new Map<UserHash, Promise<void>>();
  /**
   * What each report's chat showed (messages from the reported user) at which lastSeq: a chat
   * is read again only once it has grown, not at every later report against the same user.
   */
  readonly #conversations = new Map<number, { lastSeq: number; count: number }>();

  constructor(
    private readonly deps: ModerationDeps,
    private readonly options: ModerationOptions,
  ) {
    this.#bans = new BanCache(deps.storage, deps.clock);
    this.#blocks = new BlockCache(deps.storage);
    this.#adminTokenHash = options.adminToken === null ? null : hashToken(options.adminToken);
    this.#unsubscribe = deps.bus.subscribe((message) => {
      if (message.kind === 'bans-changed') this.#bans.reload().catch(() => undefined);
      else if (message.kind === 'blocks-changed') this.#blocks.forget(message.userHashes);
    });
    deps.matchmaking.addExclusionSource((userHash) => this.#blocks.get(userHash));
    deps.chats.addSendGuard((session, chat) => this.#guardSend(session, chat));
  }

  close(): void {
    this.#unsubscribe();
  }

  // --- enforcement -------------------------------------------------------------

  /** The active ban that applies to a request from `subject`, if any. */
  banFor(subject: BanSubject): Promise<BanRecord | null> {
    return this.#bans.find(subject);
  }

  async assertNotBanned(subject: BanSubject): Promise<void> {
    const ban = await this.#bans.find(subject);
    if (ban) throw bannedError(ban);
  }

  /** Remembers the network a device connected from, for moderators looking into an account. */
  async seen(session: Session, networkKeys: readonly string[]): Promise<void> {
    const { userHash, clientHash } = session;
    // Every level (an IPv6 /64, then its /56 and /48), so a moderator can ban the wider one.
    for (const networkKey of networkKeys) {
      await this.deps.storage.moderation.recordSighting({ userHash, clientHash, networkKey, lastSeenAt: this.deps.clock.now() });
    }
  }

  // --- blocks --------------------------------------------------------------------

  /**
   * Any userHash may be blocked, and the answer is the same whether or not it names an
   * account: otherwise block would tell anyone which hashes exist. A block of a hash with no
   * account is harmless (blocks reference no user) and is erased like any other.
   */
  async block(session: Session, target: UserHash): Promise<void> {
    const { storage, chats, clock } = this.deps;
    if (target === session.userHash) throw new DomainError('BAD_REQUEST', 'You cannot block yourself');
    await storage.moderation.addBlock({ blockerUserHash: session.userHash, blockedUserHash: target, createdAt: clock.now() });
    this.#blocksChanged(session.userHash, target);
    for (const chat of await storage.chats.listChats(session.userHash)) {
      if (chat.state === 'active' && chat.members.includes(target)) await chats.end(chat, 'blocked');
    }
  }

  async unblock(session: Session, target: UserHash): Promise<boolean> {
    const removed = await this.deps.storage.moderation.removeBlock(session.userHash, target);
    if (removed) this.#blocksChanged(session.userHash, target);
    return removed;
  }

  /** True when either of the two users blocked the other. */
  async blockedEitherWay(a: UserHash, b: UserHash): Promise<boolean> {
    return (await this.#blocks.get(a)).has(b);
  }

  /** The users this user blocked (not those who blocked them: that stays private). */
  async listBlocks(session: Session): Promise<{ userHash: UserHash; blockedAt: number }[]> {
    const blocks = await this.deps.storage.moderation.listBlocks(session.userHash);
    return blocks
      .filter((b) => b.blockerUserHash === session.userHash)
      .map((b) => ({ userHash: b.blockedUserHash, blockedAt: b.createdAt }));
  }

  #blocksChanged(a: UserHash, b: UserHash) {
    this.#blocks.forget([a, b]);
    this.deps.bus.publish({ kind: 'blocks-changed', userHashes: [a, b] });
  }

  /**
   * A chat normally ends when a block is made, but a match opened in the same instant can
   * slip past the exclusion: such a chat is ended at its first message.
   */
  async #guardSend(session: Session, chat: ChatRecord): Promise<void> {
    const blocked = await this.#blocks.get(session.userHash);
    if (!blocked.has(peerOf(chat, session.userHash))) return;
    await this.deps.chats.end(chat, 'blocked');
    throw new DomainError('CHAT_ENDED', 'This chat has ended');
  }

  // --- reports -------------------------------------------------------------------

  /** `networkKeys`: where the report comes from, which must be known before it is weighed. */
  async report(
    session: Session,
    input: { chatId: ChatId; reason: ReportReason; note?: string | undefined; disclosed?: { seq: number; text: string }[] | undefined },
    networkKeys: readonly string[],
  ): Promise<{ urgent: boolean }> {
    const { storage, chats, clock, rateLimits } = this.deps;
    const chat = await chats.requireMember(input.chatId, session.userHash);
    await rateLimits.report(session.userHash);
    // Sightings are written in the background at connect; this one must be in before weighing.
    await this.seen(session, networkKeys);
    const reported = peerOf(chat, session.userHash);
    const disclosed = [];
    for (const { seq, text } of input.disclosed ?? []) {
      const [message] = seq <= chat.lastSeq ? await storage.chats.getMessages(chat.chatId, seq, seq) : [];
      disclosed.push({ seq, text, sender: message?.senderUserHash ?? null });
    }
    const urgent = URGENT_REPORT_REASONS.has(input.reason);
    // The peer may have deleted their account: the chat and its evidence stay reportable.
    const reportedDeleted = (await storage.accounts.getUser(reported)) === null;
    const stored = await storage.moderation.createReport({
      chatId: chat.chatId,
      reporterUserHash: session.userHash,
      reportedUserHash: reported,
      reason: input.reason,
      urgent,
      note: input.note ?? null,
      disclosed,
      createdAt: clock.now(),
      reportedDeletedAt: reportedDeleted ? clock.now() : null,
    });
    if (!stored) throw new DomainError('ALREADY_REPORTED', 'You already reported this chat');
    this.deps.metrics.reportMade(urgent);
    if (!reportedDeleted) await this.#serialised(reported, () => this.#escalate(reported));
    return { urgent };
  }

  async #serialised(userHash: UserHash, fn: () => Promise<void>): Promise<void> {
    const before = this.#escalating.get(userHash) ?? Promise.resolve();
    const run = before.then(fn, fn);
    this.#escalating.set(userHash, run);
    try {
      await run;
    } finally {
      if (this.#escalating.get(userHash) === run) this.#escalating.delete(userHash);
    }
  }

  /**
   * Suspends an account once the reports within the window weigh enough (report-evidence.ts:
   * aged reporters with a clean history, on distinct networks, in chats where the reported user
   * did talk); weaker reports only wait in the moderators' queue. Reports made before the last
   * suspension do not count again, so a suspension that ends does not restart at once on old
   * reports. Revoked suspensions do not count towards the next length.
   */
  async #escalate(userHash: UserHash): Promise<void> {
    const { storage, clock } = this.deps;
    const e = this.options.escalation;
    const current = await this.#bans.find({ userHash });
    if (current?.layer === 'account') return;
    const suspensions = (await storage.moderation.listBans({ layer: 'account', target: userHash })).filter((b) => b.issuer === SYSTEM_ISSUER);
    const now = clock.now();
    const lastAt = Math.max(-Infinity, ...suspensions.map((b) => b.createdAt));
    const since = Math.max(now - e.windowMs, lastAt + 1);
    const reports = await storage.moderation.listReportsAgainst(userHash, since);
    // Cheapest first: a window without enough distinct reporters needs no evidence read at all.
    if (new Set(reports.map((r) => r.reporterUserHash)).size < e.reporters) return;
    const evidence = await Promise.all(reports.map((r) => this.#evidence(r)));
    const { score, groups } = evidenceScore(evidence, e);
    // Halves, thirds and the like: a sum that should reach the threshold may land a hair below it.
    if (score + 1e-9 < e.reporters) return;
    const counted = suspensions.filter((b) => b.revokedAt === null).length;
    // Clamped to the last instant a Date can hold: factor ** n grows past it quickly.
    const expiresAt = counted >= e.suspensionsBeforePermanent ? null : Math.min(now + e.suspensionMs * e.factor ** counted, MAX_DATE_MS);
    await this.ban(
      SYSTEM_ISSUER,
      { layer: 'account', target: userHash, reason: `automatic: reports weighing ${Math.round(score * 100) / 100} from ${groups} networks`, expiresAt },
      'suspension',
    );
  }

  async #evidence(report: ReportRecord): Promise<ReportEvidence> {
    const { storage } = this.deps;
    const reporter = await storage.accounts.getUser(report.reporterUserHash);
    return {
      reporter: report.reporterUserHash,
      networks: (await storage.moderation.listSightings(report.reporterUserHash)).map((s) => s.networkKey),
      reporterAgeMs: reporter ? report.createdAt - reporter.createdAt : 0,
      dismissedReports: await storage.moderation.countDismissedReports(report.reporterUserHash),
      messagesFromReported: await this.#messagesFromReported(report),
    };
  }

  /** Messages the reported user sent among the chat's latest EVIDENCE_MESSAGES_READ, at most minMessages. */
  async #messagesFromReported(report: ReportRecord): Promise<number> {
    const need = this.options.escalation.minMessages;
    if (need === 0) return 0;
    const chat = await this.deps.storage.chats.getChat(report.chatId);
    if (!chat || chat.lastSeq === 0) return 0;
    const known = this.#conversations.get(report.reportId);
    if (known?.lastSeq === chat.lastSeq) return known.count;
    const messages = await this.deps.storage.chats.getMessages(chat.chatId, Math.max(1, chat.lastSeq - EVIDENCE_MESSAGES_READ + 1), chat.lastSeq);
    const count = Math.min(need, messages.filter((m) => m.senderUserHash === report.reportedUserHash).length);
    if (this.#conversations.size >= 50_000) this.#conversations.clear(); // a shortcut only
    this.#conversations.set(report.reportId, { lastSeq: chat.lastSeq, count });
    return count;
  }

  // --- bans ----------------------------------------------------------------------

  /**
   * Issues a ban and enforces it at once: the banned connections close with BANNED (4004),
   * the owner's match ticket is withdrawn and their chats end for the peers ('banned').
   * An account ban also bans every device the account has now.
   */
  async ban(issuer: string, input: AdminBanCreate, action: AuditAction = 'ban.create'): Promise<BanRecord> {
    const { storage, clock, bus, chats, matchmaking } = this.deps;
    const now = clock.now();
    if (input.expiresAt !== null && input.expiresAt <= now) {
      throw new DomainError('BAD_REQUEST', 'expiresAt must be in the future (or null for a permanent ban)');
    }
    let owner: UserHash | null = null;
    let cascade: { layer: BanLayer; target: string }[] = [];
    if (input.layer === 'account') {
      if (!(await storage.accounts.getUser(input.target))) throw new DomainError('NOT_FOUND', 'No such account');
      owner = input.target;
      cascade = (await storage.accounts.listClients(owner)).map((c) => ({ layer: 'device', target: c.clientHash }));
    } else if (input.layer === 'device') {
      // Only a device the server knows: an identity key (or any other string) would be an
      // accepted ban that stops nothing. Identity keys are made by the client and remade at
      // will, so they cannot name an installation (docs/safety.md, "Bans on three layers").
      owner = (await storage.accounts.getClient(input.target as ClientHash))?.userHash ?? null;
      if (!owner) {
        throw new DomainError('NOT_FOUND', 'No such device: a device ban takes the clientHash of an existing device (admin.users.get lists them); identity keys cannot be banned');
      }
    }
    const bans = await storage.moderation.createBan(
      { layer: input.layer, target: input.target, reason: input.reason, issuer, createdAt: now, expiresAt: input.expiresAt },
      cascade,
      ([ban, ...children]) => ({
        at: now,
        actor: issuer,
        action,
        subject: `${input.layer}:${input.target}`,
        details: { banId: ban!.banId, reason: input.reason, expiresAt: input.expiresAt, devices: children.map((c) => c.target) },
      }),
    );
    this.#bans.add(bans);
    this.deps.metrics.banIssued(input.layer);
    bus.publish({ kind: 'bans-changed' });

    if (input.layer === 'account') bus.publish({ kind: 'close-user', userHash: input.target, reason: 'banned' });
    else if (input.layer === 'device') bus.publish({ kind: 'close-clients', clientHashes: [input.target as ClientHash], reason: 'banned' });
    else bus.publish({ kind: 'close-network', networkKey: input.target, reason: 'banned' });
    if (owner) {
      await matchmaking.cancel(owner);
      await chats.endAllOf(owner, 'banned');
    }
    return bans[0]!;
  }

  /** A moderator's ban; an account ban also bans the account's current devices. */
  async createBan(admin: AdminSession, input: AdminBanCreate): Promise<Ban> {
    return this.#banOut(await this.ban(admin.moderator, input), this.deps.clock.now());
  }

  async revokeBan(admin: AdminSession, input: { banId: number; reason?: string | undefined }): Promise<Ban> {
    const { storage, clock, bus } = this.deps;
    const at = clock.now();
    const revoked = await storage.moderation.revokeBan(input.banId, { at, by: admin.moderator }, (ban) => ({
      at,
      actor: admin.moderator,
      action: 'ban.revoke',
      subject: `${ban.layer}:${ban.target}`,
      details: { banId: ban.banId, reason: input.reason ?? null },
    }));
    if (!revoked) throw new DomainError('NOT_FOUND', 'No such ban, or it was already revoked');
    this.#bans.revoke(revoked.banId);
    bus.publish({ kind: 'bans-changed' });
    return this.#banOut(revoked, at);
  }

  async listBans(query: {
    status: 'active' | 'all';
    layer?: BanLayer | undefined;
    target?: string | undefined;
    limit: number;
    offset: number;
  }): Promise<Ban[]> {
    const now = this.deps.clock.now();
    const bans = await this.deps.storage.moderation.listBans({
      activeAt: query.status === 'active' ? now : undefined,
      layer: query.layer,
      target: query.target,
      limit: query.limit,
      offset: query.offset,
    });
    return bans.map((b) => this.#banOut(b, now));
  }

  #banOut(ban: BanRecord, now: number): Ban {
    return { ...ban, active: ban.revokedAt === null && (ban.expiresAt === null || ban.expiresAt > now) };
  }

  // --- the moderators' API ---------------------------------------------------------

  get adminEnabled(): boolean {
    return this.#adminTokenHash !== null;
  }

  /**
   * A moderator's connection. The token is compared in constant time; wrong tokens are
   * counted per network (`OMECHAT_RATE_ADMIN_FAILURES_PER_NETWORK`) and the failure that
   * locks a network out is written to the audit log. Throws UNAUTHORIZED (wrong token or the
   * reserved name) or RATE_LIMITED (locked out); null when the admin API is off.
   */
  async authenticateAdmin(params: { adminToken: string; moderator?: string | undefined }, networkKey: string): Promise<AdminSession | null> {
    const tokenHash = this.#adminTokenHash;
    if (tokenHash === null) return null;
    const { storage, clock, rateLimits } = this.deps;
    const moderator = params.moderator ?? 'admin';
    const session = await rateLimits.adminAttempt(
      networkKey,
      async () => {
        if (!tokenMatches(tokenHash, params.adminToken)) throw new DomainError('UNAUTHORIZED', 'Wrong admin token');
        return { moderator };
      },
      (lockoutMs) =>
        storage.moderation.appendAudit({
          at: clock.now(),
          actor: SYSTEM_ISSUER,
          action: 'admin.lockout',
          subject: `network:${networkKey}`,
          details: { reason: 'too many wrong admin tokens', lockoutMs },
        }),
    );
    // The right token with a reserved name is a mistake, not a guess: refused, not counted.
    if (moderator.toLowerCase() === SYSTEM_ISSUER) throw new DomainError('UNAUTHORIZED', `The moderator name "${SYSTEM_ISSUER}" is reserved`);
    return session;
  }

  async listReports(query: { status: 'open' | 'resolved' | 'all'; limit: number; offset: number }): Promise<ReportRecordOut[]> {
    return (await this.deps.storage.moderation.listReports(query)).map(reportOut);
  }

  async resolveReport(
    admin: AdminSession,
    input: { reportId: number; resolution: 'actioned' | 'dismissed'; note?: string | undefined },
  ): Promise<ReportRecordOut> {
    const { storage, clock } = this.deps;
    const resolvedAt = clock.now();
    const resolved = await storage.moderation.resolveReport(
      input.reportId,
      { resolvedAt, resolution: input.resolution, resolvedBy: admin.moderator, resolutionNote: input.note ?? null },
      (r) => ({
        at: resolvedAt,
        actor: admin.moderator,
        action: 'report.resolve',
        subject: `report:${r.reportId}`,
        details: { resolution: input.resolution, reported: r.reportedUserHash, reason: r.reason },
      }),
    );
    if (resolved) return reportOut(resolved);
    if (await storage.moderation.getReport(input.reportId)) throw new DomainError('CONFLICT', 'This report is already resolved');
    throw new DomainError('NOT_FOUND', 'No such report');
  }

  async listAudit(query: { limit: number; beforeId?: number | undefined }): Promise<AuditEntry[]> {
    return (await this.deps.storage.moderation.listAudit(query)).map(auditOut);
  }

  /** Everything a moderator needs to decide on an account, networks included (as keys). */
  async inspectUser(userHash: UserHash) {
    const { storage, clock } = this.deps;
    const user = await storage.accounts.getUser(userHash);
    if (!user) throw new DomainError('NOT_FOUND', 'No such account');
    const clients = await storage.accounts.listClients(userHash);
    const bans = [
      ...(await storage.moderation.listBans({ layer: 'account', target: userHash })),
      ...(await Promise.all(clients.map((c) => storage.moderation.listBans({ layer: 'device', target: c.clientHash })))).flat(),
    ];
    const now = clock.now();
    return {
      userHash,
      username: user.username,
      age: user.age,
      createdAt: user.createdAt,
      devices: clients.map((c) => ({ clientHash: c.clientHash, createdAt: c.createdAt, lastSeenAt: c.lastSeenAt })),
      networks: (await storage.moderation.listSightings(userHash)).map((s) => ({
        networkKey: s.networkKey,
        clientHash: s.clientHash,
        lastSeenAt: s.lastSeenAt,
      })),
      bans: bans.sort((a, b) => b.createdAt - a.createdAt || b.banId - a.banId).map((b) => this.#banOut(b, now)),
      reporters: await storage.moderation.countReporters(userHash, 0),
    };
  }
}

function reportOut(r: ReportRecord): ReportRecordOut {
  return {
    reportId: r.reportId,
    chatId: r.chatId,
    reporter: r.reporterUserHash,
    reported: r.reportedUserHash,
    reason: r.reason,
    urgent: r.urgent,
    note: r.note,
    disclosed: r.disclosed,
    createdAt: r.createdAt,
    resolvedAt: r.resolvedAt,
    resolution: r.resolution,
    resolvedBy: r.resolvedBy,
    resolutionNote: r.resolutionNote,
    reportedDeletedAt: r.reportedDeletedAt,
  };
}

function auditOut(a: AuditRecord): AuditEntry {
  return { auditId: a.auditId, at: a.at, actor: a.actor, action: a.action, subject: a.subject, details: a.details };
}
