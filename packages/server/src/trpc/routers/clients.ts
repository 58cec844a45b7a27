import { CLOSE_CODES, clientsListOutput, revokeClientInput, revokeClientOutput } from '@omechat/protocol';
import { authedProcedure, noInput, router } from '../init.js';

export const clientsRouter = router({
  list: authedProcedure
    .input(noInput)
    .output(clientsListOutput)
    .query(({ ctx }) => ctx.core.accounts.listClients(ctx.session)),

  revoke: authedProcedure
    .input(revokeClientInput)
    .output(revokeClientOutput)
    .mutation(async ({ ctx, input }) => {
      const revoke = () => ctx.core.accounts.revokeClient(ctx.session, input.clientHash, input.secret);
      // Revoking another device checks the secret (argon2): counted before it runs, like a login.
      if (input.clientHash === ctx.session.clientHash) await revoke();
      else await ctx.core.rateLimits.secretCheck(ctx.conn.networkKeys, revoke);
      if (input.clientHash === ctx.session.clientHash) {
        ctx.conn.signOut();
        ctx.conn.closeAfterReply(CLOSE_CODES.SESSION_REVOKED, 'revoked');
      }
      return { revoked: true as const };
    }),
});
