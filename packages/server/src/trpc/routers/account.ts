import {
  deleteAccountInput,
  deleteAccountOutput,
  loginInput,
  loginOutput,
  meOutput,
  powChallengeOutput,
  registerInput,
  registerOutput,
  rotateSecretInput,
  rotateSecretOutput,
  usernameKey,
} from '@omechat/protocol';
import { authedProcedure, noInput, publicProcedure, router } from '../init.js';

export const accountRouter = router({
  /** A proof-of-work challenge to solve before `register` (null: this server needs none). */
  challenge: publicProcedure
    .input(noInput)
    .output(powChallengeOutput)
    .query(async ({ ctx }) => {
      if (!ctx.core.registrationPow.enabled) return null;
      await ctx.core.rateLimits.powChallenge(ctx.conn.networkKeys);
      return ctx.core.registrationPow.challenge(ctx.conn.networkKeys);
    }),

  register: publicProcedure
    .input(registerInput)
    .output(registerOutput)
    .mutation(async ({ ctx, input }) => {
      ctx.core.accounts.assertUsernameAllowed(input.username);
      await ctx.core.registrationPow.check(input.pow, ctx.conn.networkKey);
      await ctx.core.rateLimits.registration(ctx.conn.networkKeys);
      const registered = await ctx.core.accounts.register(input);
      await ctx.core.registrationPow.registered(ctx.conn.networkKeys);
      return registered;
    }),

  login: publicProcedure
    .input(loginInput)
    .output(loginOutput)
    .mutation(({ ctx, input }) =>
      ctx.core.rateLimits.login(usernameKey(input.username), ctx.conn.networkKeys, () => ctx.core.accounts.login(input)),
    ),

  me: authedProcedure.input(noInput).output(meOutput).query(({ ctx }) => ctx.core.accounts.me(ctx.session)),

  rotateSecret: authedProcedure
    .input(rotateSecretInput)
    .output(rotateSecretOutput)
    // A wrong secret costs an argon2 hash, like a login: counted before it runs.
    .mutation(({ ctx, input }) =>
      ctx.core.rateLimits.secretCheck(ctx.conn.networkKeys, () => ctx.core.accounts.rotateSecret(ctx.session, input.secret)),
    ),

  delete: authedProcedure
    .input(deleteAccountInput)
    .output(deleteAccountOutput)
    .mutation(async ({ ctx, input }) => {
      // A wrong secret costs an argon2 hash, like a login: counted before it runs.
      await ctx.core.rateLimits.secretCheck(ctx.conn.networkKeys, () => ctx.core.accounts.deleteAccount(ctx.session, input.secret));
      // This connection stays open but signed out, so the reply reaches the device.
      ctx.conn.signOut();
      return { deleted: true as const };
    }),
});
