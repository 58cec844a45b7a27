import {
  envelopeJsonLength,
  chatIdInput,
  chatListOutput,
  historyInput,
  historyOutput,
  markReadInput,
  matchCancelOutput,
  matchStartInput,
  matchStartOutput,
  okOutput,
  sendInput,
  sendOutput,
  typingInput,
} from '@omechat/protocol';
import { authedProcedure, noInput, router } from '../init.js';
import { declared } from '../contract.js';

export const matchRouter = router({
  /** Joins the queue. If a partner is waiting, both get `match.found` at once. */
  start: authedProcedure
    .input(matchStartInput)
    .output(matchStartOutput)
    .mutation(async ({ ctx, input }) => {
      await ctx.core.rateLimits.matchStart(ctx.session.clientHash);
      return ctx.core.matchmaking.start(ctx.session, input);
    }),
  cancel: authedProcedure
    .input(noInput)
    .output(matchCancelOutput)
    .mutation(async ({ ctx }) => ({ cancelled: await ctx.core.matchmaking.cancel(ctx.session.userHash) })),
});

export const chatRouter = router({
  list: authedProcedure.input(noInput).output(chatListOutput).query(({ ctx }) => ctx.core.chats.list(ctx.session)),
  history: authedProcedure
    .input(historyInput)
    .output(historyOutput)
    .query(({ ctx, input }) => ctx.core.chats.history(ctx.session, input)),
  leave: authedProcedure
    .input(chatIdInput)
    .output(okOutput)
    .mutation(async ({ ctx, input }) => {
      await ctx.core.chats.leave(ctx.session, input.chatId);
      return { ok: true as const };
    }),
  typing: authedProcedure
    .input(typingInput)
    .output(okOutput)
    .mutation(async ({ ctx, input }) => {
      await ctx.core.rateLimits.typing(ctx.session.clientHash);
      await ctx.core.chats.typing(ctx.session, input);
      return { ok: true as const };
    }),
});

export const messageRouter = router({
  /** Persists, then acks. A retry with the same clientMessageId returns the first ack. */
  send: authedProcedure
    .input(sendInput)
    .output(declared(sendOutput))
    .mutation(async ({ ctx, input }) => {
      await ctx.core.rateLimits.message(ctx.session.clientHash);
      await ctx.core.rateLimits.messageBytes(ctx.session.userHash, input.chatId, envelopeJsonLength(input.envelope));
      return ctx.core.deps.metrics.timeSend(() => ctx.core.chats.send(ctx.session, input));
    }),
  markRead: authedProcedure
    .input(markReadInput)
    .output(okOutput)
    .mutation(async ({ ctx, input }) => {
      await ctx.core.rateLimits.readReceipt(ctx.session.clientHash);
      await ctx.core.chats.markRead(ctx.session, input);
      return { ok: true as const };
    }),
});
