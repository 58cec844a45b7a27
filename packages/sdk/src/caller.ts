import type { TRPCClient } from '@trpc/client';
import type { AppRouter } from '@omechat/server';
import { OmeChatError, toOmeChatError } from './errors.js';

export type Trpc = TRPCClient<AppRouter>;
export interface CallOptions {
  signal: AbortSignal;
}
/** One server call; it rejects only with `OmeChatError`. */
export type Rpc = <T>(fn: (trpc: Trpc, opts: CallOptions) => Promise<T>) => Promise<T>;

/** The socket as calls see it: `refused` means the latest attempt to (re)connect failed. */
export type LinkState = 'connecting' | 'open' | 'refused';

/**
 * Calls in flight at once. A reconnect sends every queued call in one frame, and the server
 * closes a socket whose frame batches more than its limit (OMECHAT_MAX_BATCH, 50 by default)
 * or refuses calls beyond 64 in flight: staying under both keeps an app that fires many calls
 * while offline from being cut again on every reconnect.
 */
export const MAX_CALLS_IN_FLIGHT = 32;

const unreachable = () => new OmeChatError('UNAVAILABLE', 'The server cannot be reached (reconnecting in the background)');
const timedOut = () => new OmeChatError('UNAVAILABLE', 'The server did not answer in time');

/**
 * The one path every server call of the SDK takes, so that every failure is an
 * `OmeChatError` and every call settles within `timeoutMs`.
 *
 * - `call` fails fast: while the server refuses connections it rejects at once with
 *   `UNAVAILABLE` instead of waiting out the timeout; the link keeps reconnecting.
 * - `retrying()` is for work that is safe to repeat (a send carries its `clientMessageId`):
 *   a call lost with a dropped connection is sent again once the link is back, until one
 *   deadline for the whole operation.
 */
export class Caller {
  #link: LinkState = 'connecting';
  #everOpen = false;
  #inFlight = 0;
  /** Calls waiting for a place, each handed one as another call finishes. */
  readonly #waiting: (() => void)[] = [];
  readonly #onRefused = new Set<() => void>();

  constructor(
    private readonly trpc: () => Trpc,
    private readonly timeoutMs: number,
    private readonly onError: (error: OmeChatError) => void,
  ) {}

  setLink(next: LinkState): void {
    this.#link = next;
    if (next === 'open') this.#everOpen = true;
    if (next === 'refused') for (const abort of [...this.#onRefused]) abort();
  }

  readonly call: Rpc = (fn) => this.#attempt(fn, Date.now() + this.timeoutMs, true);
  /** Work the SDK does by itself (key set-up): its failures are not the app's to act on. */
  readonly background: Rpc = (fn) => this.#attempt(fn, Date.now() + this.timeoutMs, true, false);

  /** A retrying call path, and the deadline it keeps (work that waits between calls keeps it too). */
  retrying(): { rpc: Rpc; deadline: number } {
    const deadline = Date.now() + this.timeoutMs;
    return { rpc: (fn) => this.#retry(fn, deadline), deadline };
  }

  async #retry<T>(fn: (trpc: Trpc, opts: CallOptions) => Promise<T>, deadline: number): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        // Nothing has ever answered at this URL: say so at once rather than wait.
        return await this.#attempt(fn, deadline, !this.#everOpen);
      } catch (error) {
        const retryable = error instanceof OmeChatError && error.code === 'UNAVAILABLE' && this.#everOpen;
        if (!retryable || Date.now() + 50 >= deadline) throw error;
        // A lost call is re-sent at once: the link queues it until it has reconnected.
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * attempt, 500)));
      }
    }
  }

  async #attempt<T>(fn: (trpc: Trpc, opts: CallOptions) => Promise<T>, deadline: number, failFast: boolean, report = true): Promise<T> {
    if (failFast && this.#link === 'refused') throw unreachable();
    if (this.#inFlight < MAX_CALLS_IN_FLIGHT) this.#inFlight++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await this.#run(fn, deadline, failFast, report);
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#inFlight--;
    }
  }

  async #run<T>(fn: (trpc: Trpc, opts: CallOptions) => Promise<T>, deadline: number, failFast: boolean, report: boolean): Promise<T> {
    if (deadline <= Date.now()) throw timedOut();
    const controller = new AbortController();
    let why = timedOut;
    const timer = setTimeout(() => controller.abort(), deadline - Date.now());
    const refused = () => {
      why = unreachable;
      controller.abort();
    };
    if (failFast) this.#onRefused.add(refused);
    try {
      return await fn(this.trpc(), { signal: controller.signal });
    } catch (err) {
      const error = controller.signal.aborted ? why() : toOmeChatError(err);
      if (report) this.onError(error);
      throw error;
    } finally {
      clearTimeout(timer);
      this.#onRefused.delete(refused);
    }
  }
}
