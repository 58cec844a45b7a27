import { WebSocket } from 'ws';
import type { Contract } from './contract.js';

/**
 * A client made of raw WebSocket frames, as docs/protocol.md describes them. Every frame the
 * server sends is checked against the JSON Schema (the frame, then the procedure's output or
 * the error shape); what does not match is reported to `onViolation`.
 */

export interface ErrorShape {
  code: number;
  message: string;
  data: { code: string; omechatCode: string; path?: string; details: Record<string, unknown> };
}
export type CallResult = { ok: true; data: unknown } | { ok: false; error: ErrorShape };

export interface StreamItem {
  id: string;
  events: { type: string; [key: string]: unknown }[];
}

interface Pending {
  path: string;
  kind: 'query' | 'mutation' | 'subscription';
  resolve?: (result: CallResult) => void;
  subscription?: Subscription;
}

export interface ClientOptions {
  url: string;
  /** Credentials sent as the connectionParams frame; null or absent: anonymous. */
  params?: Record<string, string> | null;
  contract: Contract;
  onViolation: (message: string) => void;
  /** Told of each procedure that answered with data (a result or a subscription item). */
  onData: (path: string) => void;
  timeoutMs: number;
}

export class TimeoutError extends Error {}

export class RawClient {
  readonly #ws: WebSocket;
  readonly #opts: ClientOptions;
  readonly #pending = new Map<number, Pending>();
  readonly #waiters = new Set<() => void>();
  #nextId = 1;
  /** Text frames that were not JSON (keep-alive). */
  readonly texts: string[] = [];
  /** Error frames with a null id (about the connection or an unreadable frame). */
  readonly connectionErrors: ErrorShape[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  closeInfo: { code: number; reason: string } | null = null;

  private constructor(ws: WebSocket, opts: ClientOptions) {
    this.#ws = ws;
    this.#opts = opts;
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const [, p] of this.#pending) p.resolve?.({ ok: false, error: closedError(code) });
        this.#pending.clear();
        this.#notify();
        resolve(this.closeInfo);
      });
    });
    ws.on('message', (raw, isBinary) => this.#onFrame((raw as Buffer).toString(), isBinary));
  }

  static async open(opts: ClientOptions): Promise<RawClient> {
    const url = opts.params ? `${opts.url}${opts.url.includes('?') ? '&' : '?'}connectionParams=1` : opts.url;
    const ws = new WebSocket(url);
    const client = new RawClient(ws, opts);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    if (opts.params) client.sendJson({ method: 'connectionParams', data: opts.params });
    return client;
  }

  sendJson(frame: unknown): void {
    this.#ws.send(JSON.stringify(frame));
  }

  sendText(text: string): void {
    this.#ws.send(text);
  }

  /** A query or mutation; resolves with its result or error frame (or a close). */
  call(kind: 'query' | 'mutation', path: string, input?: unknown): Promise<CallResult> {
    const id = this.#nextId++;
    const result = new Promise<CallResult>((resolve) => this.#pending.set(id, { path, kind, resolve }));
    this.sendJson({ id, method: kind, params: input === undefined ? { path } : { path, input } });
    return this.#within(result, `the reply to ${path}`);
  }

  /** Calls and expects success; throws with the error otherwise. */
  async ok(kind: 'query' | 'mutation', path: string, input?: unknown): Promise<unknown> {
    const result = await this.call(kind, path, input);
    if (!result.ok) throw new Error(`${path} failed: ${result.error.data?.omechatCode} ${result.error.message}`);
    return result.data;
  }

  /** Calls and expects an error; returns its omechatCode. */
  async fails(kind: 'query' | 'mutation', path: string, input?: unknown): Promise<ErrorShape> {
    const result = await this.call(kind, path, input);
    if (result.ok) throw new Error(`${path} succeeded, expected an error: ${JSON.stringify(result.data)}`);
    return result.error;
  }

  subscribe(path: string, input?: unknown, lastEventId?: string): Subscription {
    const id = this.#nextId++;
    const subscription = new Subscription(this, id, path);
    this.#pending.set(id, { path, kind: 'subscription', subscription });
    const params: Record<string, unknown> = { path };
    if (input !== undefined) params.input = input;
    if (lastEventId !== undefined) params.lastEventId = lastEventId;
    this.sendJson({ id, method: 'subscription', params });
    return subscription;
  }

  /** Waits, frame by frame, until `predicate` holds; fails after the suite's timeout. */
  async until(predicate: () => boolean, what: string): Promise<void> {
    if (predicate()) return;
    let wake!: () => void;
    const check = () => {
      if (predicate() || this.closeInfo) wake();
    };
    const done = new Promise<void>((resolve) => (wake = resolve));
    this.#waiters.add(check);
    try {
      await this.#within(done, what);
    } finally {
      this.#waiters.delete(check);
    }
    if (!predicate()) throw new Error(`connection closed (${this.closeInfo?.code}) while waiting for ${what}`);
  }

  async waitClosed(): Promise<{ code: number; reason: string }> {
    return this.#within(this.closed, 'the socket to close');
  }

  close(): Promise<unknown> {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) this.#ws.close(1000);
    return this.closed;
  }

  #within<T>(promise: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`timed out after ${this.#opts.timeoutMs} ms waiting for ${what}`)), this.#opts.timeoutMs);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  #notify() {
    for (const waiter of [...this.#waiters]) waiter();
  }

  #violation(message: string, frame: string) {
    this.#opts.onViolation(`${message} in frame ${frame.length > 300 ? frame.slice(0, 300) + '…' : frame}`);
  }

  #onFrame(text: string, isBinary: boolean) {
    try {
      this.#handle(text, isBinary);
    } finally {
      this.#notify();
    }
  }

  #handle(text: string, isBinary: boolean) {
    const { contract } = this.#opts;
    if (isBinary) return this.#violation('a binary frame', text);
    if (text === 'PING' || text === 'PONG') {
      this.texts.push(text);
      if (text === 'PING') this.sendText('PONG');
      return;
    }
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return this.#violation('not JSON', text);
    }
    const problem = contract.check('serverFrame', frame);
    if (problem) return this.#violation(`not a server frame (${problem})`, text);
    if ('error' in frame) {
      const error = frame.error as ErrorShape;
      if (frame.id === null) return void this.connectionErrors.push(error);
      const pending = this.#pending.get(frame.id as number);
      if (!pending) return this.#violation('an error for an unknown request id', text);
      const listed = contract.index.procedures[pending.path]?.errors;
      if (listed && !listed.includes(error.data.omechatCode)) {
        this.#violation(`${pending.path} answered ${error.data.omechatCode}, an error its contract does not list`, text);
      }
      this.#pending.delete(frame.id as number);
      pending.resolve?.({ ok: false, error });
      pending.subscription?.fail(error);
      return;
    }
    if ('method' in frame) return; // reconnect notification: the socket closes with 4000 next
    const pending = this.#pending.get(frame.id as number);
    if (!pending) return this.#violation('a result for an unknown request id', text);
    const result = frame.result as { type: string; id?: string; data?: unknown };
    const entry = contract.index.procedures[pending.path];
    if (pending.kind !== 'subscription') {
      if (result.type !== 'data') return this.#violation(`a ${result.type} frame for a ${pending.kind}`, text);
      if (entry) {
        const wrong = contract.check(entry.output, result.data);
        if (wrong) this.#violation(`${pending.path} output does not match its schema (${wrong})`, text);
      }
      this.#pending.delete(frame.id as number);
      this.#opts.onData(pending.path);
      pending.resolve!({ ok: true, data: result.data });
      return;
    }
    const subscription = pending.subscription!;
    if (result.type === 'started') subscription.started = true;
    else if (result.type === 'stopped') {
      subscription.stopped = true;
      this.#pending.delete(frame.id as number);
    } else {
      if (entry) {
        const wrong = contract.check(entry.output, result.data);
        if (wrong) this.#violation(`${pending.path} item does not match its schema (${wrong})`, text);
      }
      this.#opts.onData(pending.path);
      const item = result.data as { id: string; data: { events: StreamItem['events'] } };
      if (result.id !== item.id) this.#violation('the item id differs from result.id', text);
      subscription.items.push({ id: item.id, events: item.data.events });
    }
  }
}

function closedError(code: number): ErrorShape {
  return { code: 0, message: `socket closed (${code})`, data: { code: 'CLOSED', omechatCode: 'CLOSED', details: {} } };
}

export class Subscription {
  started = false;
  stopped = false;
  error: ErrorShape | null = null;
  readonly items: StreamItem[] = [];

  constructor(
    readonly client: RawClient,
    readonly id: number,
    readonly path: string,
  ) {}

  fail(error: ErrorShape) {
    this.error = error;
  }

  get events() {
    return this.items.flatMap((i) => i.events);
  }

  get lastEventId(): string | undefined {
    return this.items.at(-1)?.id;
  }

  /** Events of one type, optionally matching `where`. */
  of(type: string, where: (e: Record<string, unknown>) => boolean = () => true) {
    return this.events.filter((e) => e.type === type && where(e));
  }

  /** Waits for the `count`-th event of `type` matching `where`. */
  async next<T = Record<string, unknown>>(type: string, where: (e: Record<string, unknown>) => boolean = () => true, count = 1): Promise<T> {
    await this.client.until(() => this.error !== null || this.of(type, where).length >= count, `${count} ${type} event(s) on ${this.path}`);
    if (this.error) throw new Error(`${this.path} failed: ${this.error.data.omechatCode} ${this.error.message}`);
    return this.of(type, where)[count - 1] as T;
  }

  /** Waits until the stream is live (its first, empty item arrived). */
  async live(): Promise<void> {
    await this.client.until(() => this.error !== null || this.items.length > 0, `${this.path} to go live`);
    if (this.error) throw new Error(`${this.path} failed: ${this.error.data.omechatCode} ${this.error.message}`);
  }

  stop(): void {
    this.client.sendJson({ id: this.id, method: 'subscription.stop' });
  }
}
