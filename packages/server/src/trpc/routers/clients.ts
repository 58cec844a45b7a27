import { clientsListOutput, revokeClientInput } from '@omechat/protocol';
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
      return { revoked: true as const };
    }),
});
