import { z } from 'zod';
import { LIMITS } from './limits.js';
import { chatIdSchema, clientHashSchema, userHashSchema } from './ids.js';

/**
 * Personal safety: blocks, reports, and the moderation (admin) API of the multi-layer
 * banning system. See docs/safety.md for what each piece does and why.
 */

export const REPORT_REASONS = ['minor-safety', 'harassment', 'spam', 'sexual-content', 'hate', 'other'] as const;
export const reportReasonSchema = z.enum(REPORT_REASONS);
export type ReportReason = z.infer<typeof reportReasonSchema>;
/** Reports for these reasons go to the top of the moderators' queue. */
export const URGENT_REPORT_REASONS: ReadonlySet<ReportReason> = new Set(['minor-safety']);

export const BAN_LAYERS = ['account', 'device', 'network'] as const;
export const banLayerSchema = z.enum(BAN_LAYERS);
export type BanLayer = z.infer<typeof banLayerSchema>;

/** Sizes of moderator-written text; reports use `LIMITS.reportNoteMax` and friends. */
export const SAFETY_LIMITS = {
  banReasonMax: 500,
  resolutionNoteMax: 1000,
  moderatorNameMax: 64,
  adminPageMax: 200,
} as const;

// --- user procedures ------------------------------------------------------------

export const blockInput = z.strictObject({ userHash: userHashSchema });
export const blockOutput = z.object({ blocked: z.literal(true) });
export const unblockOutput = z.object({ unblocked: z.boolean() });
export const blockedUserSchema = z.object({ userHash: userHashSchema, blockedAt: z.number().int() });
export const blocksListOutput = z.array(blockedUserSchema);

/** A message of the chat that the reporter decrypted and chooses to show the moderators. */
export const disclosedMessageSchema = z.strictObject({
  seq: z.number().int().min(1),
  text: z.string().min(1).max(LIMITS.disclosedMessageChars),
});

export const reportInput = z.strictObject({
  chatId: chatIdSchema,
  reason: reportReasonSchema,
  note: z.string().max(LIMITS.reportNoteMax).trim().min(1).optional(),
  disclosed: z
    .array(disclosedMessageSchema)
    .max(LIMITS.disclosedMessagesMax)
    .refine((list) => new Set(list.map((m) => m.seq)).size === list.length, {
      message: 'each message may be disclosed once',
    })
    .describe('each seq at most once')
    .optional(),
});
export const reportOutput = z.object({ urgent: z.boolean() });

// --- the moderation API ---------------------------------------------------------

/** Keyed hash of an IPv4 /24 or IPv6 /64: HMAC-SHA256, lower-case hex. */
export const networkKeySchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex characters');
/** A device: the clientHash of an existing device (identity keys are refused: the client can remake them at will). */
export const deviceTargetSchema = z
  .string()
  .min(16)
  .max(128)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be URL-safe: A-Z a-z 0-9 _ -');

/**
 * Sent as tRPC `connectionParams` by moderator tools instead of a device's credentials.
 * A separate, strict shape: a user's access token can never be read as an admin token.
 */
export const adminConnectionParamsSchema = z.strictObject({
  adminToken: z.string().min(32).max(512),
  /** Who is acting, recorded in the audit log. Not secret and not verified. */
  moderator: z
    .string()
    .trim()
    .min(1)
    .max(SAFETY_LIMITS.moderatorNameMax)
    .regex(/^[\w.@ -]+$/, 'letters, digits, space and _ . @ - only')
    .optional(),
});
export type AdminCredentials = z.input<typeof adminConnectionParamsSchema>;

const page = {
  limit: z.number().int().min(1).max(SAFETY_LIMITS.adminPageMax).default(50),
  offset: z.number().int().min(0).default(0),
};

const banFields = {
  reason: z.string().max(SAFETY_LIMITS.banReasonMax).trim().min(1),
  /** Epoch ms in the future; null: permanent. */
  expiresAt: z.number().int().positive().nullable(),
};
export const adminBanCreateInput = z.discriminatedUnion('layer', [
  z.strictObject({ layer: z.literal('account'), target: userHashSchema, ...banFields }),
  z.strictObject({ layer: z.literal('device'), target: deviceTargetSchema, ...banFields }),
  z.strictObject({ layer: z.literal('network'), target: networkKeySchema, ...banFields }),
]);
export type AdminBanCreateInput = z.input<typeof adminBanCreateInput>;
export type AdminBanCreate = z.infer<typeof adminBanCreateInput>;

export const banSchema = z.object({
  banId: z.number().int(),
  layer: banLayerSchema,
  target: z.string(),
  reason: z.string(),
  /** 'system' for automatic suspensions, else the moderator's name. */
  issuer: z.string(),
  createdAt: z.number().int(),
  expiresAt: z.number().int().nullable(),
  revokedAt: z.number().int().nullable(),
  revokedBy: z.string().nullable(),
  /** Set on the device bans an account ban brought with it. */
  parentBanId: z.number().int().nullable(),
  active: z.boolean(),
});
export type Ban = z.infer<typeof banSchema>;

export const adminBanRevokeInput = z.strictObject({
  banId: z.number().int().positive(),
  reason: z.string().max(SAFETY_LIMITS.banReasonMax).trim().min(1).optional(),
});
export const adminBansListInput = z
  .strictObject({
    status: z.enum(['active', 'all']).default('active'),
    layer: banLayerSchema.optional(),
    target: z.string().min(1).max(128).optional(),
    ...page,
  })
  .prefault({});
export const adminBansListOutput = z.array(banSchema);

export const REPORT_RESOLUTIONS = ['actioned', 'dismissed'] as const;
export const reportRecordSchema = z.object({
  reportId: z.number().int(),
  chatId: chatIdSchema,
  reporter: userHashSchema,
  reported: userHashSchema,
  reason: reportReasonSchema,
  urgent: z.boolean(),
  note: z.string().nullable(),
  /** `sender` comes from the server's records of the chat; `text` only from the reporter. */
  disclosed: z.array(z.object({ seq: z.number().int(), text: z.string(), sender: userHashSchema.nullable() })),
  createdAt: z.number().int(),
  resolvedAt: z.number().int().nullable(),
  resolution: z.enum(REPORT_RESOLUTIONS).nullable(),
  resolvedBy: z.string().nullable(),
  resolutionNote: z.string().nullable(),
  /** When the reported account was deleted; the report is kept for the report retention after. */
  reportedDeletedAt: z.number().int().nullable(),
});
export type ReportRecordOut = z.infer<typeof reportRecordSchema>;

export const adminReportsListInput = z
  .strictObject({ status: z.enum(['open', 'resolved', 'all']).default('open'), ...page })
  .prefault({});
export const adminReportsListOutput = z.array(reportRecordSchema);
export const adminReportResolveInput = z.strictObject({
  reportId: z.number().int().positive(),
  resolution: z.enum(REPORT_RESOLUTIONS),
  note: z.string().max(SAFETY_LIMITS.resolutionNoteMax).trim().min(1).optional(),
});

export const AUDIT_ACTIONS = ['ban.create', 'ban.revoke', 'report.resolve', 'suspension', 'admin.lockout'] as const;
export const auditEntrySchema = z.object({
  auditId: z.number().int(),
  at: z.number().int(),
  actor: z.string(),
  action: z.enum(AUDIT_ACTIONS),
  /** What the action was about, e.g. `account:<userHash>` or `report:12`. */
  subject: z.string(),
  details: z.record(z.string(), z.unknown()),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;
export const adminAuditListInput = z
  .strictObject({
    limit: page.limit,
    /** Entries with a smaller id than this; omit for the newest page. */
    beforeId: z.number().int().positive().optional(),
  })
  .prefault({});
export const adminAuditListOutput = z.array(auditEntrySchema);

export const adminUserInput = z.strictObject({ userHash: userHashSchema });
export const adminUserOutput = z.object({
  userHash: userHashSchema,
  username: z.string(),
  age: z.number().int(),
  createdAt: z.number().int(),
  devices: z.array(
    z.object({ clientHash: clientHashSchema, createdAt: z.number().int(), lastSeenAt: z.number().int().nullable() }),
  ),
  /** Networks (keyed hashes) the account's devices connected from, most recent first. */
  networks: z.array(z.object({ networkKey: networkKeySchema, clientHash: clientHashSchema, lastSeenAt: z.number().int() })),
  bans: z.array(banSchema),
  /** Distinct users who ever reported this account (reports of deleted users excepted). */
  reporters: z.number().int(),
});
