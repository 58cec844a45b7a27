import { tracked, type TrackedEnvelope } from '@trpc/server';
import { CLOSE_CODES, eventBatchSchema, streamInput, type OmeEvent } from '@omechat/protocol';
import { streamEvents, type EventBatchOut } from '../../core/event-stream.js';
import { DomainError } from '../../core/domain-error.js';
import { toTRPCError } from '../errors.js';
import { authedProcedure, router, type Context } from '../init.js';
import { declaredStream } from '../contract.js';

export const eventsRouter = router({
  /**
   * The one subscription: batches of events, each tracked with its resume id. On reconnect
   * the tRPC client sends the last id back as `lastEventId` and gets what it missed.
   */
  stream: authedProcedure.input(streamInput).output(declaredStream(eventBatchSchema)).subscription(({ ctx, input, signal }) => {
    const lastEventId = input?.lastEventId ? Number(input.lastEventId) : null;
    // A backlog is paced to half the output budget, and its batches to a quarter, so replies
    // to the device's other calls still fit the budget while a backlog streams.
    const maxBatchBytes = Math.min(512 * 1024, ctx.limits.maxBufferedBytes / 4);
    return new TrackedBatches(ctx, streamEvents(ctx.core.streamDeps, ctx.session, lastEventId, signal ?? new AbortController().signal, maxBatchBytes));
  }),
});

type Item = TrackedEnvelope<{ events: OmeEvent[] }>;
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * The stream's batches as tRPC items, checked against the output budget on the way. A plain
 * iterator chained with then(), not an async generator around streamEvents: an idle stream
 * holds one pending promise instead of one more suspended generator (memory per idle
 * connection), and each pushed batch passes one layer of promises fewer.
 */
class TrackedBatches implements AsyncIterableIterator<Item, undefined> {
  #ended = false;
  // What it needs of the context, not the context: the middlewares' copy of it (a hidden
  // class of its own, ~300 bytes) would live as long as the stream.
  readonly #core: Context['core'];
  readonly #conn: Context['conn'];
  readonly #limits: Context['limits'];

  constructor(
    ctx: Pick<Context, 'core' | 'conn' | 'limits'>,
    private readonly batches: AsyncGenerator<EventBatchOut>,
  ) {
    this.#core = ctx.core;
    this.#conn = ctx.conn;
    this.#limits = ctx.limits;
    ctx.core.deps.metrics.streamsOpen(1);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Item, undefined>> {
    return this.batches.next().then(
      (result) => this.#item(result),
      (err: unknown) => {
        this.#end();
        // Thrown while streaming, past the middleware that maps domain errors (a bad cursor is
        // the client's fault: BAD_REQUEST, not a server error in the log).
        throw err instanceof DomainError ? toTRPCError(err) : err;
      },
    );
  }

  async return(): Promise<IteratorResult<Item, undefined>> {
    this.#end();
    await this.batches.return(undefined);
    return DONE;
  }

  async #item(result: IteratorResult<EventBatchOut>): Promise<IteratorResult<Item, undefined>> {
    if (result.done) return this.#end();
    const batch = result.value;
    const conn = this.#conn;
    this.#core.deps.metrics.streamBatch(batch.events.length);
    // A backlog leaves as fast as the device reads it; a device that does not keep up with
    // live events must not make the server buffer for it without end.
    const { maxBufferedBytes } = this.#limits;
    const keptUp = batch.backlog
      ? conn.bufferedBytes() < maxBufferedBytes / 2 || (await conn.drained(maxBufferedBytes / 2))
      : conn.bufferedBytes() <= maxBufferedBytes;
    if (!keptUp) {
      conn.close(CLOSE_CODES.SLOW_CONSUMER, 'slow consumer');
      return this.return();
    }
    return { done: false, value: tracked(batch.id, { events: batch.events }) };
  }

  /** Counted once, however the stream ends: done, failed or returned. */
  #end(): IteratorReturnResult<undefined> {
    if (!this.#ended) {
      this.#ended = true;
      this.#core.deps.metrics.streamsOpen(-1);
    }
    return DONE;
  }
}
