import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import {
  callTRPCProcedure,
  getTRPCErrorFromUnknown,
  getTRPCErrorShape,
  isTrackedEnvelope,
  TRPCError,
  type AnyTRPCRouter,
} from '@trpc/server';
import type { RawData, WebSocket, WebSocketServer } from 'ws';

/**
 * tRPC's WebSocket protocol, served on a `ws` server: the same frames as
 * `@trpc/server/adapters/ws` (JSON-RPC-like requests, `started`/`data`/`stopped` for
 * subscriptions with `tracked()` ids, `connectionParams`, `reconnect`, PING/PONG), so
 * `@trpc/client`'s wsLink works against it unchanged.
 *
 * Why not the stock adapter: on the message path its per-call machinery (a context
 * promise per call, an abort controller per call, `using` resources and a Promise.race per
 * subscription item, two timers reset on every frame for keep-alive) cost more than
 * everything else a relayed message does. Here a call is one procedure invocation and one
 * frame; keep-alive is one sweep timer for all sockets; per-connection state is one object.
 *
 * What it leaves out: data transformers (OmeChat's wire is plain JSON) and observables (a
 * subscription returns an async iterable that ends when its `signal` aborts).
 */
export interface TrpcWsOptions<TContext> {
  router: AnyTRPCRouter;
  /** A connection's context, once its connectionParams (null if none were sent) are known. */
  createContext(opts: { ws: WebSocket; req: IncomingMessage; connectionParams: Record<string, string> | null }): Promise<TContext>;
  /** Server pings after `pingMs` of silence and drops a socket that stays silent `pongWaitMs` more. */
  keepAlive: { pingMs: number; pongWaitMs: number };
  /** What one socket may cost (docs/safety.md, "Threat model"). */
  limits: WsLimits;
  onError(info: { error: TRPCError; path: string | undefined }): void;
  /** A connection whose context was made has closed (one listener fewer per socket than its own). */
  onClose?(ctx: TContext): void;
}

export interface WsLimits {
  /** A socket opened with `?connectionParams=1` must send them within this time (else 4002). */
  credentialsTimeoutMs: number;
  /** Calls one frame may batch (tRPC's `maxBatchSize`); a longer batch closes the socket (4002). */
  maxBatch: number;
  /** Queries and mutations running at once per connection; more are refused TOO_MANY_REQUESTS. */
  maxCallsInFlight: number;
  /** Unread output a socket may hold; a reply or item that finds more closes it (4008). */
  maxBufferedBytes: number;
  /** Subscriptions open at once per connection; more are refused CONFLICT. */
  maxSubscriptions: number;
}

/** Close codes of the transport itself (the same numbers as `CLOSE_CODES` in the protocol). */
const PROTOCOL_ERROR = 4002;
const SLOW_CONSUMER = 4008;
/** A socket told to close gets this long to do so before it is cut: a hostile peer never answers. */
const CLOSE_GRACE_MS = 1000;

type RequestId = number | string;
type Method = 'query' | 'mutation' | 'subscription';
interface Request {
  id: RequestId;
  jsonrpc?: '2.0';
  method: Method | 'subscription.stop';
  params?: { path?: unknown; input?: unknown; lastEventId?: unknown };
}

const OPEN = 1;
const CLOSED = 3;
const NO_SUBSCRIPTIONS: readonly Subscription[] = [];
/** Queries and mutations run to the end even if their socket closes: their writes are acked work. */
const NEVER_ABORTED = new AbortController().signal;
const METHODS = new Set(['query', 'mutation', 'subscription', 'subscription.stop']);
const uncork = (socket: Socket) => socket.uncork();
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export class TrpcWsHandler<TContext> {
  readonly #connections = new Set<TrpcConnection<TContext>>();
  readonly #sweep: NodeJS.Timeout;
  /** Queries and mutations running now, over all connections (shutdown waits for them). */
  inflight = 0;

  constructor(
    wss: WebSocketServer,
    readonly options: TrpcWsOptions<TContext>,
  ) {
    wss.on('connection', (ws, req) => {
      const conn = new TrpcConnection(this, ws, req);
      this.#connections.add(conn);
      // `on`, not `once`: 'close' comes once, and once() wraps each listener in three objects
      // more that would live as long as the socket.
      ws.on('close', () => {
        this.#connections.delete(conn);
        conn.closed();
      });
    });
    const { pingMs, pongWaitMs } = options.keepAlive;
    this.#sweep = setInterval(() => this.#keepAlive(), Math.max(10, Math.min(pingMs, pongWaitMs) / 2));
    this.#sweep.unref();
  }

  /** Tells every client to reconnect (tRPC's `reconnect` notification), e.g. before a restart. */
  broadcastReconnectNotification(): void {
    const frame = JSON.stringify({ id: null, method: 'reconnect' });
    for (const conn of this.#connections) conn.sendRaw(frame);
  }

  close(): void {
    clearInterval(this.#sweep);
  }

  #keepAlive(): void {
    const now = Date.now();
    const { pingMs, pongWaitMs } = this.options.keepAlive;
    for (const conn of this.#connections) {
      if (conn.pingSentAt > conn.lastSeen) {
        if (now - conn.pingSentAt >= pongWaitMs) conn.ws.terminate();
      } else if (now - conn.lastSeen >= pingMs) {
        conn.pingSentAt = now;
        conn.sendRaw('PING');
      }
    }
  }
}

class TrpcConnection<TContext = unknown> {
  ctx: TContext | undefined;
  /**
   * Set while the context is being made (rejected if it could not be); null while the
   * connectionParams message is awaited, and once `ctx` exists (an idle socket keeps no promise).
   */
  ctxPromise: Promise<TContext> | null;
  isClosed = false;
  /** Replaced, never changed in place, so each array is just long enough (a Map of one costs ~200 bytes). */
  subscriptions: readonly Subscription[] = NO_SUBSCRIPTIONS;
  /** This connection's queries and mutations running now. */
  inflight = 0;
  lastSeen = Date.now();
  pingSentAt = 0;
  readonly #socket: Socket;

  constructor(
    readonly handler: TrpcWsHandler<TContext>,
    readonly ws: WebSocket,
    req: IncomingMessage,
  ) {
    this.#socket = req.socket;
    this.#reportErrors();
    if (!(req.url ?? '').includes('connectionParams=1')) {
      this.ctxPromise = this.#createContext(req, null);
      this.#listen();
      return;
    }
    // The first message carries the connectionParams. `req` is needed until then only: the
    // listener that holds it goes once that message is in (an idle connection keeping its
    // upgrade request and headers would cost more memory than everything else it holds).
    this.ctxPromise = null;
    // A socket that never says who it is holds a descriptor for nothing. Not cleared on close:
    // a listener for that would keep this timer and its scope (the request) alive as long as
    // the connection; closeHard on a closed socket does nothing.
    const deadline = setTimeout(() => this.closeHard(PROTOCOL_ERROR, 'no connectionParams in time'), handler.options.limits.credentialsTimeoutMs).unref();
    ws.once('message', (data, isBinary) => {
      clearTimeout(deadline);
      this.lastSeen = Date.now();
      this.ctxPromise = this.#createContext(req, () => connectionParamsOf(data, isBinary));
      this.#listen();
    });
  }

  // Listeners are made in methods of their own, outside the constructor's scope, so that
  // they do not keep `req` alive with it.
  #reportErrors(): void {
    this.ws.on('error', (cause) => this.#report(getTRPCErrorFromUnknown(cause), undefined));
  }

  #listen(): void {
    this.ws.on('message', (data, isBinary) => {
      this.lastSeen = Date.now();
      this.#onMessage(data, isBinary);
    });
  }

  closed(): void {
    this.isClosed = true;
    for (const subscription of this.subscriptions) subscription.cancel();
    this.subscriptions = NO_SUBSCRIPTIONS;
    if (this.ctx !== undefined) this.handler.options.onClose?.(this.ctx);
  }

  forget(subscription: Subscription): void {
    if (this.subscriptions.includes(subscription)) this.subscriptions = this.subscriptions.filter((s) => s !== subscription);
  }

  /** Closes with `code`, and cuts the socket if it has not closed a moment later. */
  closeHard(code: number, reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.ws.close(code, reason);
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  sendRaw(frame: string): void {
    if (this.ws.readyState === OPEN) this.#frame(frame);
  }

  /**
   * The frames one socket is sent in the same tick (the acks of one group commit, the pushes
   * beside them) leave in one write: a syscall per frame was the largest single cost under
   * load (bench/README.md, profile). ws corks around each frame itself; this cork holds
   * until the tick's microtasks are done.
   */
  #frame(frame: string): void {
    if (this.#socket.writableCorked === 0) {
      this.#socket.cork();
      process.nextTick(uncork, this.#socket);
    }
    this.ws.send(frame);
  }

  /**
   * Every reply and item goes through here: output is memory, so a socket whose reader has
   * fallen more than the budget behind is closed instead of being given more.
   */
  send(message: object): void {
    if (this.ws.readyState !== OPEN || this.isClosed) return;
    if (this.ws.bufferedAmount > this.handler.options.limits.maxBufferedBytes) return this.closeHard(SLOW_CONSUMER, 'slow consumer');
    this.#frame(JSON.stringify(message));
  }

  /** Rejects (after answering and closing) when no context can be made; calls waiting on it fail. */
  #createContext(req: IncomingMessage, params: (() => Record<string, string> | null) | null): Promise<TContext> {
    const created = this.#makeContext(req, params);
    created.catch(() => undefined); // answered already; not an unhandled rejection when no call waits
    return created;
  }

  async #makeContext(req: IncomingMessage, params: (() => Record<string, string> | null) | null): Promise<TContext> {
    try {
      const connectionParams = params ? params() : null;
      this.ctx = await this.handler.options.createContext({ ws: this.ws, req, connectionParams });
      this.ctxPromise = null;
      // Closed while the context was being made (it may wait on Redis or PostgreSQL): closed()
      // had no context to hand to onClose then.
      if (this.ws.readyState === CLOSED) this.handler.options.onClose?.(this.ctx);
      return this.ctx;
    } catch (cause) {
      const error = getTRPCErrorFromUnknown(cause);
      this.#report(error, undefined);
      this.send({ id: null, error: this.#shape(error, 'unknown', undefined, undefined) });
      setImmediate(() => this.ws.close());
      throw error;
    }
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    // ws hands text frames over as Buffers (its default binaryType).
    const text = isBinary ? null : (data as Buffer).toString();
    if (text === 'PONG') return;
    if (text === 'PING') return this.sendRaw('PONG');
    if (this.isClosed) return;
    let parsed: unknown;
    try {
      if (text === null) throw new Error('binary frames are not supported: send JSON text');
      parsed = JSON.parse(text);
    } catch (cause) {
      return this.#junk(null, new TRPCError({ code: 'PARSE_ERROR', message: cause instanceof Error ? cause.message : 'Malformed message', cause }));
    }
    const { maxBatch } = this.handler.options.limits;
    if (!Array.isArray(parsed)) return this.#onRequest(parsed);
    if (parsed.length > maxBatch) {
      return this.#junk(null, new TRPCError({ code: 'BAD_REQUEST', message: `Batch of ${parsed.length} calls exceeds the maximum of ${maxBatch}` }));
    }
    for (const one of parsed) this.#onRequest(one);
  }

  /**
   * A frame that is not a tRPC request (or a batch over the limit) gets one answer and the
   * socket is closed: answering each element of a junk batch would let one frame buy
   * thousands of replies.
   */
  #junk(id: RequestId | null, error: TRPCError): void {
    this.#refuse(id, undefined, error);
    this.closeHard(PROTOCOL_ERROR, 'not a tRPC request');
  }

  #onRequest(raw: unknown): void {
    if (this.isClosed) return;
    const request = raw as Request;
    const id = isObject(raw) && (typeof request.id === 'number' || typeof request.id === 'string') ? request.id : null;
    const jsonrpc = isObject(raw) && request.jsonrpc === '2.0' ? '2.0' : undefined;
    if (id === null || !METHODS.has(request.method)) {
      return this.#junk(id, new TRPCError({ code: 'PARSE_ERROR', message: id === null ? '`id` is required' : 'Unknown method' }));
    }
    if (request.method === 'subscription.stop') {
      this.subscriptions.find((s) => s.id === id)?.cancel();
      return;
    }
    const params = request.params;
    const path = isObject(params) ? params.path : undefined;
    const lastEventId = isObject(params) ? params.lastEventId : undefined;
    if (typeof path !== 'string' || (lastEventId !== undefined && typeof lastEventId !== 'string')) {
      return this.#junk(id, new TRPCError({ code: 'PARSE_ERROR', message: 'Malformed params' }));
    }
    let input = params!.input;
    // As tRPC's adapter does: the client's resume cursor joins the input.
    if (lastEventId !== undefined) input = isObject(input) ? { ...input, lastEventId } : (input ?? { lastEventId });
    if (request.method === 'subscription') void this.#subscribe(id, jsonrpc, path, input);
    else void this.#call(id, jsonrpc, request.method, path, input);
  }

  async #call(id: RequestId, jsonrpc: '2.0' | undefined, type: 'query' | 'mutation', path: string, input: unknown): Promise<void> {
    const { handler } = this;
    if (this.inflight >= handler.options.limits.maxCallsInFlight) {
      return this.#refuse(id, jsonrpc, new TRPCError({ code: 'TOO_MANY_REQUESTS', message: `At most ${handler.options.limits.maxCallsInFlight} calls at once per connection` }), type, path);
    }
    handler.inflight++;
    this.inflight++;
    try {
      const ctx = this.ctx ?? (await this.ctxPromise!);
      const data = await invoke(handler.options.router, { path, type, ctx, input, signal: NEVER_ABORTED });
      this.send(jsonrpc ? { id, jsonrpc, result: { type: 'data', data } } : { id, result: { type: 'data', data } });
    } catch (cause) {
      this.#refuse(id, jsonrpc, cause, type, path, input);
    } finally {
      handler.inflight--;
      this.inflight--;
    }
  }

  async #subscribe(id: RequestId, jsonrpc: '2.0' | undefined, path: string, input: unknown): Promise<void> {
    if (this.subscriptions.some((s) => s.id === id) || this.isClosed) {
      return this.#refuse(id, jsonrpc, new TRPCError({ code: 'BAD_REQUEST', message: `Duplicate id ${id}` }));
    }
    const { maxSubscriptions } = this.handler.options.limits;
    if (this.subscriptions.length >= maxSubscriptions) {
      const message = `At most ${maxSubscriptions} subscription${maxSubscriptions === 1 ? '' : 's'} per connection: stop the open one first`;
      return this.#refuse(id, jsonrpc, new TRPCError({ code: 'CONFLICT', message }), 'subscription', path);
    }
    const subscription = new Subscription(this, id, jsonrpc);
    const { stop } = subscription;
    this.subscriptions = [...this.subscriptions, subscription];
    try {
      const ctx = this.ctx ?? (await this.ctxPromise!);
      const result = await invoke(this.handler.options.router, { path, type: 'subscription', ctx, input, signal: stop.signal });
      if (!isObject(result) || typeof (result as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] !== 'function') {
        throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: `Subscription ${path} did not return an async iterable` });
      }
      const iterator = (subscription.iterator = (result as unknown as AsyncIterable<unknown>)[Symbol.asyncIterator]());
      if (stop.signal.aborted) return;
      subscription.started = true;
      this.send({ id, jsonrpc, result: { type: 'started' } });
      // Declared outside the loop and cleared after each send, so a waiting subscription does
      // not keep its last item alive (tRPC #6156).
      let next: IteratorResult<unknown> | null;
      let value: unknown;
      for (;;) {
        next = await iterator.next();
        if (next.done || stop.signal.aborted) break;
        value = next.value;
        next = null;
        this.send(
          isTrackedEnvelope(value)
            ? { id, jsonrpc, result: { type: 'data', id: value[0], data: { id: value[0], data: value[1] } } }
            : { id, jsonrpc, result: { type: 'data', data: value } },
        );
        value = undefined;
      }
      subscription.iterator = undefined;
    } catch (cause) {
      if (!stop.signal.aborted) this.#refuse(id, jsonrpc, cause, 'subscription', path, input);
    } finally {
      // Stopped (by the client or a close): cancel() has already called return().
      const returned = stop.signal.aborted;
      stop.abort();
      this.forget(subscription);
      if (!returned) await subscription.iterator?.return?.().catch(() => undefined);
      subscription.sendStopped();
    }
  }

  /** Answers a request with an error (or the connection, when `id` is null). */
  #refuse(
    id: RequestId | null,
    jsonrpc: '2.0' | undefined,
    cause: unknown,
    type: Method | 'unknown' = 'unknown',
    path?: string,
    input?: unknown,
  ): void {
    const error = getTRPCErrorFromUnknown(cause);
    this.#report(error, path);
    this.send({ id, jsonrpc, error: this.#shape(error, type, path, input) });
  }

  #shape(error: TRPCError, type: Method | 'unknown', path: string | undefined, input: unknown): unknown {
    return getTRPCErrorShape({ config: this.handler.options.router._def._config, error, type, path, input, ctx: this.ctx });
  }

  #report(error: TRPCError, path: string | undefined): void {
    try {
      this.handler.options.onError({ error, path });
    } catch {
      // A failing error hook must not take the connection down.
    }
  }
}

/**
 * An open subscription. Only its connection aborts its signal, through cancel(): no abort
 * listener, and no closure of its own, lives as long as an idle subscription. (Under tsx,
 * esbuild's keepNames gives every named arrow function a `name` property of its own, which
 * costs it a 256-byte property dictionary.)
 */
class Subscription {
  readonly stop = new AbortController();
  iterator: AsyncIterator<unknown> | undefined;
  started = false;
  #stopSent = false;

  constructor(
    readonly conn: TrpcConnection,
    readonly id: RequestId,
    readonly jsonrpc: '2.0' | undefined,
  ) {}

  /**
   * As tRPC's adapter does on `subscription.stop`: answer `stopped` and end the iterator at
   * once, not when its pending `next()` settles, so a generator waiting on something other
   * than its signal is told to run its `finally` right away.
   */
  cancel(): void {
    if (this.stop.signal.aborted) return;
    // Its place is free at once: the next subscription need not wait for this one's teardown.
    this.conn.forget(this);
    this.sendStopped();
    void this.iterator?.return?.().catch(() => undefined);
    this.stop.abort();
  }

  sendStopped(): void {
    if (!this.started || this.#stopSent) return;
    this.#stopSent = true;
    this.conn.send({ id: this.id, jsonrpc: this.jsonrpc, result: { type: 'stopped' } });
  }
}

interface MiddlewareResult {
  ok: boolean;
  data?: unknown;
  error?: TRPCError;
}
type Middleware = (opts: Record<string, unknown>) => Promise<MiddlewareResult | undefined>;
interface CallOptions {
  path: string;
  type: Method;
  ctx: unknown;
  input: unknown;
  signal: AbortSignal;
}

/** A middleware step that threw or rejected, as tRPC's own chain reports it. */
const failed = (cause: unknown): MiddlewareResult => ({ ok: false, error: getTRPCErrorFromUnknown(cause) });

/**
 * Calls a procedure as tRPC's `callProcedure` does: its middlewares in order (the ones
 * `.use()` added, the input and output validators, the error formatter, the resolver), each
 * given `next()`, a thrown error turned into a failed result. tRPC builds every level's
 * options with a transpiled object-spread helper; measured here, that cost more per call
 * than the input's validation. A procedure whose shape this does not know (a future tRPC)
 * goes through `callTRPCProcedure` itself.
 */
export async function invoke(router: AnyTRPCRouter, { path, type, ctx, input, signal }: CallOptions): Promise<unknown> {
  const procedure = (router._def.procedures as Record<string, { _def?: { type?: string; middlewares?: unknown; meta?: unknown } } | undefined>)[path];
  const def = procedure?._def;
  const middlewares = def?.middlewares;
  if (!Array.isArray(middlewares)) {
    return callTRPCProcedure({ router, path, getRawInput: () => Promise.resolve(input), ctx, type, signal, batchIndex: 0 });
  }
  if (def!.type !== type) throw new TRPCError({ code: 'NOT_FOUND', message: `No "${type}"-procedure on path "${path}"` });
  const meta = def!.meta;
  // Not async: each level's suspended frame would live as long as the call waits for its
  // commit, and sends waiting for a commit are what the GC copies under load (bench/README.md).
  const step = (index: number, ctx: unknown, parsed: unknown, getRawInput: () => Promise<unknown>): Promise<MiddlewareResult | undefined> => {
    try {
      return (middlewares[index] as Middleware)({
        ctx,
        type,
        path,
        input: parsed,
        getRawInput,
        meta,
        signal,
        batchIndex: 0,
        next: (next?: { ctx?: object; input?: unknown; getRawInput?: () => Promise<unknown> }) =>
          step(
            index + 1,
            next?.ctx ? { ...(ctx as object), ...next.ctx } : ctx,
            next && 'input' in next ? next.input : parsed,
            next?.getRawInput ?? getRawInput,
          ),
      }).then(undefined, failed);
    } catch (cause) {
      return Promise.resolve(failed(cause));
    }
  };
  const result = await step(0, ctx, undefined, () => Promise.resolve(input));
  if (!result) throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'No result from middlewares' });
  if (!result.ok) throw result.error!;
  return result.data;
}

function connectionParamsOf(data: RawData, isBinary: boolean): Record<string, string> | null {
  let message: unknown;
  try {
    message = isBinary ? undefined : JSON.parse((data as Buffer).toString());
  } catch {
    message = undefined;
  }
  const params = isObject(message) && message.method === 'connectionParams' ? message.data : undefined;
  if (params === null) return null;
  if (!isObject(params) || Object.values(params).some((v) => typeof v !== 'string')) {
    throw new TRPCError({ code: 'PARSE_ERROR', message: 'Invalid connection params shape' });
  }
  return params as Record<string, string>;
}
