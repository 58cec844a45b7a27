import { blockInput, blockOutput, blocksListOutput, reportInput, reportOutput, unblockOutput } from '@omechat/protocol';
import { authedProcedure, noInput, router } from '../init.js';

export const safetyRouter = router({
  /** Never matched again; a chat between the two ends ('blocked'); no message passes. */
  block: authedProcedure
    .input(blockInput)
    .output(blockOutput)
    .mutation(async ({ ctx, input }) => {
      await ctx.core.rateLimits.block(ctx.session.userHash);
      await ctx.core.moderation.block(ctx.session, input.userHash);
      return { blocked: true as const };
    }),
  unblock: authedProcedure
    .input(blockInput)
    .output(unblockOutput)
    .mutation(async ({ ctx, input }) => {
      await ctx.core.rateLimits.block(ctx.session.userHash);
      return { unblocked: await ctx.core.moderation.unblock(ctx.session, input.userHash) };
    }),
  /** The users this user blocked. */
  blocks: authedProcedure.input(noInput).output(blocksListOutput).query(({ ctx }) => ctx.core.moderation.listBlocks(ctx.session)),
  /** Reports the peer of a chat this user is in; once per chat. */
  report: authedProcedure
    .input(reportInput)
    .output(reportOutput)
    .mutation(({ ctx, input }) => ctx.core.moderation.report(ctx.session, input, ctx.conn.networkKeys)),
});
