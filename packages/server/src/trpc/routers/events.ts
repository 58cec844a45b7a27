import { tracked } from '@trpc/server';
import { CLOSE_CODES, eventBatchSchema, streamInput } from '@omechat/protocol';
import { streamEvents } from '../../core/event-stream.js';
import { DomainError } from '../../core/domain-error.js';
import { toTRPCError } from '../errors.js';
import { authedProcedure, router } from '../init.js';
import { declaredStream } from '../contract.js';

export const eventsRouter = router({
  /**
   * The one subscription: batches of events, each tracked with its resume id. On reconnect
   * the tRPC client sends the last id back as `lastEventId` and gets what it missed.
   */
  stream: authedProcedure.input(streamInput).output(declaredStream(eventBatchSchema)).subscription(async function* ({ ctx, input, signal }) {
    const lastEventId = input?.lastEventId ? Number(input.lastEventId) : null;
    // A backlog is paced to half the output budget, and its batches to a quarter, so replies
    // to the device's other calls still fit the budget while a backlog streams.
    const maxBatchBytes = Math.min(512 * 1024, ctx.limits.maxBufferedBytes / 4);
    const stream = streamEvents(ctx.core.streamDeps, ctx.session, lastEventId, signal ?? new AbortController().signal, maxBatchBytes);
    const { metrics } = ctx.core.deps;
    metrics.streamsOpen(1);
    try {
      for await (const batch of stream) {
        metrics.streamBatch(batch.events.length);
        // A backlog leaves as fast as the device reads it; a device that does not keep up with
        // live events must not make the server buffer for it without end.
        const { maxBufferedBytes } = ctx.limits;
        const keptUp = batch.backlog
          ? ctx.conn.bufferedBytes() < maxBufferedBytes / 2 || (await ctx.conn.drained(maxBufferedBytes / 2))
          : ctx.conn.bufferedBytes() <= maxBufferedBytes;
        if (!keptUp) {
          ctx.conn.close(CLOSE_CODES.SLOW_CONSUMER, 'slow consumer');
          return;
        }
        yield tracked(batch.id, { events: batch.events });
      }
    } catch (err) {
      // Thrown while streaming, past the middleware that maps domain errors (a bad cursor is
      // the client's fault: BAD_REQUEST, not a server error in the log).
      throw err instanceof DomainError ? toTRPCError(err) : err;
    } finally {
      metrics.streamsOpen(-1);
    }
  }),
});
