import {
  adminAuditListInput,
  adminAuditListOutput,
  adminBanCreateInput,
  adminBanRevokeInput,
  adminBansListInput,
  adminBansListOutput,
  adminReportResolveInput,
  adminReportsListInput,
  adminReportsListOutput,
  adminUserInput,
  adminUserOutput,
  banSchema,
  reportRecordSchema,
} from '@omechat/protocol';
import { adminProcedure, router } from '../init.js';

/** The moderators' API: connect with connectionParams `{adminToken, moderator?}`. */
export const adminRouter = router({
  reports: router({
    /** Unresolved first, urgent (minor-safety) first, oldest first. */
    list: adminProcedure
      .input(adminReportsListInput)
      .output(adminReportsListOutput)
      .query(({ ctx, input }) => ctx.core.moderation.listReports(input)),
    resolve: adminProcedure
      .input(adminReportResolveInput)
      .output(reportRecordSchema)
      .mutation(({ ctx, input }) => ctx.core.moderation.resolveReport(ctx.admin, input)),
  }),
  bans: router({
    create: adminProcedure
      .input(adminBanCreateInput)
      .output(banSchema)
      .mutation(({ ctx, input }) => ctx.core.moderation.createBan(ctx.admin, input)),
    revoke: adminProcedure
      .input(adminBanRevokeInput)
      .output(banSchema)
      .mutation(({ ctx, input }) => ctx.core.moderation.revokeBan(ctx.admin, input)),
    list: adminProcedure
      .input(adminBansListInput)
      .output(adminBansListOutput)
      .query(({ ctx, input }) => ctx.core.moderation.listBans(input)),
  }),
  audit: router({
    /** Newest first; page with `beforeId`. Entries cannot be changed or removed. */
    list: adminProcedure
      .input(adminAuditListInput)
      .output(adminAuditListOutput)
      .query(({ ctx, input }) => ctx.core.moderation.listAudit(input)),
  }),
  users: router({
    /** An account's devices, the networks (keys) they used, its bans and how many reported it. */
    get: adminProcedure
      .input(adminUserInput)
      .output(adminUserOutput)
      .query(({ ctx, input }) => ctx.core.moderation.inspectUser(input.userHash)),
  }),
});
