import {
  keysBundlesInput,
  keysBundlesOutput,
  keysDevicesOutput,
  keysStatusOutput,
  keysUploadInput,
} from '@omechat/protocol';
import { authedProcedure, noInput, router } from '../init.js';

export const keysRouter = router({
  /** Registers this device's identity (once) and signed prekey, and adds one-time prekeys. */
  upload: authedProcedure
    .input(keysUploadInput)
    .output(keysStatusOutput)
    .mutation(({ ctx, input }) => ctx.core.keys.upload(ctx.session, input)),
  /** How many one-time prekeys this device still has on the server (top up when low). */
  status: authedProcedure
    .input(noInput)
    .output(keysStatusOutput)
    .query(({ ctx }) => ctx.core.keys.status(ctx.session)),
  /** One prekey bundle per device of the peer of an active chat (or of your own other devices). */
  bundles: authedProcedure
    .input(keysBundlesInput)
    .output(keysBundlesOutput)
    .mutation(async ({ ctx, input }) => {
      await ctx.core.rateLimits.bundles(ctx.session.clientHash, input.userHash);
      return { devices: await ctx.core.keys.bundles(ctx.session, input.userHash) };
    }),
  /** Identity keys of a user's devices, for safety codes and to detect changes. */
  devices: authedProcedure
    .input(keysBundlesInput)
    .output(keysDevicesOutput)
    .query(async ({ ctx, input }) => ({ devices: await ctx.core.keys.devices(ctx.session, input.userHash) })),
});
