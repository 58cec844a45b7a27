import { CLOSE_CODES, clientsListOutput, revokeClientInput } from '@omechat/protocol';
import { z } from 'zod';
import { authedProcedure, noInput, router } from '../init.js';

export const clientsRouter = router({
  list: authedProcedure
    .input(noInput)
    .output(clientsListOutput)
    .query(({ ctx }) => ctx.core.accounts.listClients(ctx.session)),

  revoke: authedProcedure
    .input(revokeClientInput)
    .output(z.object({ revoked: z.literal(true) }))
    .mutation(async ({ ctx, input }) => {
      await ctx.core.accounts.revokeClient(ctx.session, input.clientHash);
      if (input.clientHash === ctx.session.clientHash) {
        ctx.conn.signOut();
        ctx.conn.closeAfterReply(CLOSE_CODES.SESSION_REVOKED, 'revoked');
      }
      return { revoked: true as const };
    }),
});
