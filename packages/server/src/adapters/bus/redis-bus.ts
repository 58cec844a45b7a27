import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Bus, BusMessage } from '../../ports/bus.js';

export interface RedisBusOptions {
  url: string;
  /** Namespaces the channel (`<prefix>:bus`), so deployments sharing a Redis never hear each other. */
  prefix?: string;
  /** The pub/sub channel every process of one deployment shares; overrides the prefix's. */
  channel?: string;
  /** How long open() waits for Redis before giving up. */
  connectTimeoutMs?: number;
  /**
   * Told of what the bus drops rather than throws: a message that could not be published
   * (once per outage), a malformed message on the channel, a handler that threw on a
   * message from another process.
   */
  onError?: (err: unknown) => void;
}

/** What travels on the channel: the message and the bus instance that sent it. */
interface WireMessage {
  from: string;
  message: BusMessage;
}

const isWireMessage = (value: unknown): value is WireMessage => {
  const wire = value as Partial<WireMessage> | null;
  return typeof wire?.from === 'string' && typeof wire.message === 'object' && typeof wire.message?.kind === 'string';
};

/**
 * Fan-out across server processes over Redis pub/sub: one connection publishes, one
 * subscribes (a subscribed Redis connection can do nothing else).
 *
 * Subscribers in this process get a message at once, synchronously inside publish(), as on
 * the LocalBus: the common case (both users on one server) pays no Redis round trip. Every
 * message is also published, tagged with this instance's random id, and the copy that comes
 * back to our own subscription is dropped by that id, so nothing is delivered twice.
 *
 * Delivery stays at-most-once, as the port allows: while Redis is unreachable, messages to
 * other processes are dropped, not queued (durable events wait in Storage and a stream
 * catches up on its next wake-up). ioredis reconnects by itself; we resubscribe ourselves
 * and only then call the onReconnect handlers, so a stream that re-reads Storage on that
 * signal cannot miss a wake published between its read and the subscription.
 */
export class RedisBus implements Bus {
  readonly #id = randomBytes(8).toString('hex');
  readonly #channel: string;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #handlers = new Set<(message: BusMessage) => void>();
  readonly #onError: (err: unknown) => void;
  readonly #reconnectHandlers = new Set<() => void>();
  #dropping = false;
  #closed = false;
  /** Set when either connection closes, cleared once both are back and subscribed. */
  #lost = false;
  #subscribed = false;

  /** Connects both connections and subscribes; rejects if Redis does not answer in time. */
  static async open(options: RedisBusOptions): Promise<RedisBus> {
    const bus = new RedisBus(options);
    const timeoutMs = options.connectTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        bus.#start(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      await bus.close();
      throw new Error(`Redis for the bus is unreachable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    return bus;
  }

  private constructor(options: RedisBusOptions) {
    this.#channel = options.channel ?? `${options.prefix ?? 'omechat'}:bus`;
    this.#onError = options.onError ?? (() => undefined);
    // No offline queue: a publish during an outage fails at once instead of piling up.
    this.#publisher = new Redis(options.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    this.#subscriber = new Redis(options.url, { lazyConnect: true, autoResubscribe: false });
    for (const connection of [this.#publisher, this.#subscriber]) {
      // Connection errors surface as failed commands; ioredis keeps reconnecting meanwhile.
      connection.on('error', () => undefined);
      connection.on('close', () => {
        if (connection === this.#subscriber) this.#subscribed = false;
        if (!this.#closed) this.#lost = true;
      });
    }
    this.#publisher.on('ready', () => {
      this.#dropping = false;
      this.#recovered();
    });
    this.#subscriber.on('ready', () => {
      if (this.#lost) void this.#subscribe().catch((err: unknown) => this.#onError(err));
    });
    this.#subscriber.on('message', (channel: string, text: string) => this.#receive(channel, text));
  }

  async #start(): Promise<void> {
    await Promise.all([this.#publisher.connect(), this.#subscriber.connect()]);
    await this.#subscribe();
  }

  async #subscribe(): Promise<void> {
    await this.#subscriber.subscribe(this.#channel);
    this.#subscribed = true;
    this.#recovered();
  }

  /** After an outage: once both connections are back and subscribed, tell the handlers. */
  #recovered(): void {
    if (!this.#lost || this.#closed || !this.connected()) return;
    this.#lost = false;
    for (const handler of this.#reconnectHandlers) {
      try {
        handler();
      } catch (err) {
        this.#onError(err);
      }
    }
  }

  connected(): boolean {
    return this.#subscribed && this.#publisher.status === 'ready' && this.#subscriber.status === 'ready';
  }

  onReconnect(handler: () => void): () => void {
    this.#reconnectHandlers.add(handler);
    return () => this.#reconnectHandlers.delete(handler);
  }

  publish(message: BusMessage): void {
    if (this.#closed) return;
    const wire: WireMessage = { from: this.#id, message };
    this.#publisher.publish(this.#channel, JSON.stringify(wire)).catch((err: unknown) => {
      if (this.#dropping || this.#closed) return;
      this.#dropping = true; // reported once; 'ready' re-arms it
      this.#onError(err);
    });
    for (const handler of this.#handlers) handler(message);
  }

  subscribe(handler: (message: BusMessage) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers.clear();
    this.#reconnectHandlers.clear();
    // QUIT goes out after the publishes already queued on the connection.
    await Promise.all(
      [this.#publisher, this.#subscriber].map(async (connection) => {
        if (connection.status !== 'ready') return connection.disconnect(); // stops reconnecting too
        await connection.quit().catch(() => connection.disconnect());
      }),
    );
  }

  /** A message from the channel: another process's, or the echo of our own. */
  #receive(channel: string, text: string): void {
    if (channel !== this.#channel || this.#closed) return;
    let wire: unknown;
    try {
      wire = JSON.parse(text);
    } catch (err) {
      this.#onError(err);
      return;
    }
    if (!isWireMessage(wire)) {
      this.#onError(new Error(`malformed bus message on ${channel}`));
      return;
    }
    if (wire.from === this.#id) return; // delivered locally when it was published
    // Inside ioredis's reply parser: a throwing handler must neither stop the others nor
    // reach the connection.
    for (const handler of this.#handlers) {
      try {
        handler(wire.message);
      } catch (err) {
        this.#onError(err);
      }
    }
  }
}
