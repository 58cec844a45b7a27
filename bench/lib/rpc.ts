import { WebSocket } from 'ws';

/**
 * A load-generator client that speaks tRPC's WebSocket JSON-RPC directly over `ws`.
 * Not @trpc/client: its wsLink batches sends through setTimeout, adding at least 1 ms to
 * every call, which would be measured as server latency. Same frames on the wire:
 *   -> {"method":"connectionParams","data":{clientHash,accessToken}}     (first frame)
 *   -> {"id":n,"method":"mutation"|"query"|"subscription","params":{"path","input"}}
 *   <- {"id":n,"result":{"type":"data","data":...}}                       (call result)
 *   <- {"id":s,"result":{"type":"started"}}, then for each tracked() item
 *   <- {"id":s,"result":{"type":"data","id":"<eventId>","data":{"id":"<eventId>","data":{"events":[...]}}}}
 * The baseline server speaks the same frames.
 */
export interface Credentials {
  clientHash: string;
  accessToken: string;
}

export interface RpcOptions {
  url: string;
  credentials?: Credentials | null;
  /** Source address on loopback (127.x.y.z): each gives another ~28k ephemeral ports. */
  localAddress?: string;
  /** Called with each batch pushed on the event stream, with its arrival time. */
  onEvents?: (events: unknown[], at: number) => void;
  onClose?: (code: number) => void;
}

export class RpcError extends Error {
  constructor(
    readonly path: string,
    readonly shape: unknown,
  ) {
    const s = shape as { message?: string; data?: { omechatCode?: string; code?: string } };
    super(`${path}: ${s?.data?.omechatCode ?? s?.data?.code ?? ''} ${s?.message ?? JSON.stringify(shape)}`);
  }
}

const SUBSCRIPTION_ID = 1;

type Pending = { path: string; resolve: (value: unknown) => void; reject: (err: Error) => void };

export class RpcClient {
  readonly ws: WebSocket;
  #nextId = SUBSCRIPTION_ID + 1;
  readonly #pending = new Map<number, Pending>();
  #started: { resolve: () => void; reject: (err: Error) => void } | null = null;
  /** The close code, once the socket has closed. */
  closeCode: number | null = null;
  /** Frames received on this connection (calls, pushes, keep-alive pings). */
  framesIn = 0;
  lastEventId: string | null = null;

  private constructor(
    ws: WebSocket,
    private readonly opts: RpcOptions,
  ) {
    this.ws = ws;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on('close', (code: number) => {
      this.closeCode = code;
      for (const p of this.#pending.values()) p.reject(new Error(`${p.path}: socket closed (${code})`));
      this.#pending.clear();
      this.#started?.reject(new Error(`events.stream: socket closed (${code})`));
      this.#started = null;
      opts.onClose?.(code);
    });
    ws.on('error', () => undefined); // 'close' follows and rejects what is pending
  }

  static open(opts: RpcOptions): Promise<RpcClient> {
    const withParams = opts.credentials !== undefined && opts.credentials !== null;
    const url = withParams ? `${opts.url}?connectionParams=1` : opts.url;
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress: opts.localAddress });
    return new Promise((resolve, reject) => {
      ws.once('error', reject);
      ws.once('open', () => {
        ws.off('error', reject);
        if (withParams) ws.send(JSON.stringify({ method: 'connectionParams', data: opts.credentials }));
        resolve(new RpcClient(ws, opts));
      });
    });
  }

  /** A mutation or query; resolves with the result's data. */
  call<T = unknown>(method: 'mutation' | 'query', path: string, input?: unknown): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { path, resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params: { path, input } }));
    });
  }

  /** A mutation sent as a prebuilt frame; `id` must come from `reserveId()`. */
  sendRaw(id: number, frame: string, path: string, resolve: (value: unknown) => void, reject: (err: Error) => void): void {
    this.#pending.set(id, { path, resolve, reject });
    this.ws.send(frame);
  }

  reserveId(): number {
    return this.#nextId++;
  }

  /** Opens `events.stream`; resolves once the server has started it. */
  subscribe(path = 'events.stream', input: unknown = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closeCode !== null) return reject(new Error(`${path}: socket closed (${this.closeCode})`));
      this.#started = { resolve, reject };
      this.ws.send(JSON.stringify({ id: SUBSCRIPTION_ID, method: 'subscription', params: { path, input } }));
    });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    this.framesIn++;
    const at = performance.now();
    if (!isBinary && data.length === 4) {
      const text = data.toString();
      if (text === 'PING') {
        this.ws.send('PONG');
        return;
      }
      if (text === 'PONG') return;
    }
    const msg = JSON.parse(data.toString()) as {
      id: number | null;
      result?: { type: string; id?: string; data?: unknown };
      error?: unknown;
      method?: string;
    };
    if (msg.id === SUBSCRIPTION_ID) {
      const result = msg.result;
      if (!result) {
        const err = new RpcError('events.stream', msg.error);
        if (!this.#started) throw err;
        this.#started.reject(err);
        this.#started = null;
        return;
      }
      if (result.type === 'started') {
        this.#started?.resolve();
        this.#started = null;
      } else if (result.type === 'data') {
        const tracked = result.data as { id: string; data: { events: unknown[] } };
        this.lastEventId = tracked.id;
        this.opts.onEvents?.(tracked.data.events, at);
      }
      return;
    }
    if (typeof msg.id !== 'number') return; // reconnect notification, connection-level error
    const pending = this.#pending.get(msg.id);
    if (!pending) return;
    this.#pending.delete(msg.id);
    if (msg.result) pending.resolve(msg.result.data);
    else pending.reject(new RpcError(pending.path, msg.error));
  }
}

/** Opens `count` connections with at most `parallel` handshakes in flight. */
export async function openMany<T>(count: number, parallel: number, open: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await open(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return out;
}
