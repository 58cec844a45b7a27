import { WebSocket } from 'ws';
import type { ClientEvent, ClientHash, KeyStore, OmeChatClient, OmeChatClientOptions, OmeEvent } from '@omechat/sdk';
import { CliError, closedError, toCliError } from './errors.js';
import type { LocalState, SavedCredentials } from './state.js';

/** Where the server is, and how long to wait for its socket to open. */
export interface ServerAddress {
  url: string;
  connectTimeoutMs: number;
}

export interface Connection {
  client: OmeChatClient;
  /** Runs `fn`, turning any failure into a CliError (with the close reason if the socket closed for good). */
  run<T>(fn: (client: OmeChatClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A client without credentials, for `register` and `login`. */
export async function connectAnonymous(server: ServerAddress, keyStore?: KeyStore): Promise<Connection> {
  return open(server, { keyStore });
}

/** A signed-in client for commands that do not encrypt or decrypt. */
export async function connectReadOnly(server: ServerAddress, state: LocalState): Promise<Connection & { credentials: SavedCredentials }> {
  const credentials = state.requireCredentials();
  return { ...(await open(server, { credentials, keyStore: state.readOnlyKeyStore() })), credentials };
}

export interface DeviceSession extends Connection {
  credentials: SavedCredentials;
  /**
   * Listens to decrypted events. Each one is recorded (messages go to messages.jsonl)
   * before the cursor moves past it, and events this device already handled are dropped.
   */
  listen(listener: (event: ClientEvent) => void): () => void;
  /** Stops listening, waits until received events are handled and the cursor saved, closes. */
  close(): Promise<void>;
}

/**
 * This device with its keys and event cursor, for commands that encrypt or decrypt. Holds
 * the device lock until closed.
 */
export async function openDevice(server: ServerAddress, state: LocalState, command: string, { offline = false } = {}): Promise<DeviceSession> {
  const credentials = state.requireCredentials();
  const release = state.lock(command);
  try {
    const cursor = new CursorKeeper(credentials.clientHash, (id) => state.saveCursor(id));
    const conn = await open(server, {
      credentials,
      keyStore: state.keyStore(),
      messageStore: state.messageStore(),
      lastEventId: state.cursor(),
      onLastEventId: (id) => cursor.batchEnd(id),
    });
    const { client } = conn;
    // The SDK drops messages that arrive before it knows which device it is, so listeners
    // are added only after encryption is set up (the app, which opens offline, waits itself).
    if (!offline) await conn.run((c) => c.encryptionReady());
    const seen = new Set(state.messages().map((m) => `${m.chatId}:${m.seq}`));
    const listeners = new Set<(event: ClientEvent) => void>();
    let offRaw: (() => void) | null = null;
    let off: (() => void) | null = null;
    return {
      ...conn,
      credentials,
      listen(listener) {
        listeners.add(listener);
        const remove = () => void listeners.delete(listener);
        if (off) return remove;
        offRaw = client.onRaw((event) => cursor.raw(event));
        off = client.on((event) => {
          const key = 'seq' in event ? `${event.chatId}:${event.seq}` : null;
          const again = key !== null && (event.type === 'message' || event.type === 'message.undecryptable') && seen.has(key);
          if (!again) {
            if (event.type === 'message') {
              seen.add(key!);
              state.recordMessage({ chatId: event.chatId, seq: event.seq, from: event.from, own: event.own, sentAt: event.sentAt, text: event.text });
            }
            for (const l of listeners) {
              try {
                l(event);
              } catch (error) {
                // A throw here would stall the SDK's event queue for good.
                process.stderr.write(`omechat: ${error instanceof Error ? error.message : String(error)}\n`);
              }
            }
          }
          cursor.emitted(event);
        });
        return remove;
      },
      async close() {
        offRaw?.();
        off?.();
        await cursor.drained(2_000);
        await conn.close();
        release();
      },
    };
  } catch (error) {
    release();
    throw error;
  }
}

async function open(
  { url, connectTimeoutMs }: ServerAddress,
  options: Pick<OmeChatClientOptions, 'credentials' | 'keyStore' | 'messageStore' | 'lastEventId' | 'onLastEventId'>,
): Promise<Connection> {
  // Loaded on first use: `omechat --help` and usage errors start without the SDK.
  const { createOmeChatClient } = await import('@omechat/sdk');
  // Only the two fields: the server rejects connectionParams with anything else in them.
  const credentials = options.credentials ? { clientHash: options.credentials.clientHash, accessToken: options.credentials.accessToken } : null;
  // No waiting for the socket here: while the server refuses connections the SDK fails a
  // call at once, so a stopped server is reported in well under a second, not after a timeout.
  const client = createOmeChatClient({ url, WebSocket, ...options, credentials, callTimeoutMs: Math.max(connectTimeoutMs, 1_000) });
  let everConnected = client.state === 'connected';
  client.onStateChange((state) => (everConnected ||= state === 'connected'));
  return {
    client,
    async run(fn) {
      try {
        return await fn(client);
      } catch (error) {
        const e = toCliError(error, client.closedReason);
        throw e.code === 'UNAVAILABLE' && !everConnected ? unreachable(url) : e;
      }
    },
    close: () => client.close().catch(() => undefined),
  };
}

export const unreachable = (url: string) =>
  new CliError('UNAVAILABLE', `Cannot reach the server at ${url}: is it running? (start one with \`pnpm run serve\`, or pass --server URL)`);

/**
 * The SDK reports a batch's resume id before it has decrypted that batch, so saving it at
 * once could skip messages if the process stops in between. This keeps each id until the
 * decrypted events of its batch have been handed out: one per event, except messages this
 * device sent or that were not sealed for it.
 */
class CursorKeeper {
  readonly #batches: { id: string; remaining: number }[] = [];
  #current = 0;
  #waiters: (() => void)[] = [];

  constructor(
    private readonly clientHash: ClientHash,
    private readonly save: (id: string) => void,
  ) {}

  raw(event: OmeEvent): void {
    if (event.type !== 'message.new') this.#current++;
    else if (event.message.senderClientHash !== this.clientHash && event.message.envelope.parts.some((p) => p.to === this.clientHash)) this.#current++;
  }

  batchEnd(id: string): void {
    this.#batches.push({ id, remaining: this.#current });
    this.#current = 0;
    this.#flush();
  }

  emitted(event: ClientEvent): void {
    // Not one per stream event: our own sends, and key and version warnings (raised beside a message).
    if ((event.type === 'message' && event.own) || event.type === 'peer.identityChanged' || event.type === 'encryption.downgraded') return;
    const head = this.#batches[0];
    if (head) head.remaining--;
    this.#flush();
  }

  /** Resolves when every received batch is handled, or after `timeoutMs` (its id then stays unsaved). */
  drained(timeoutMs: number): Promise<void> {
    if (this.#batches.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #flush(): void {
    let done: string | null = null;
    while (this.#batches[0] && this.#batches[0].remaining <= 0) done = this.#batches.shift()!.id;
    if (done !== null) this.save(done);
    if (this.#batches.length === 0) for (const wake of this.#waiters.splice(0)) wake();
  }
}

/**
 * Aborts on the first SIGINT or SIGTERM so a long-running command can stop cleanly; a second
 * one exits at once.
 */
export function stopSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(name);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Resolves when `signal` aborts; rejects when the server closes this device's socket for good. */
export function untilStopped(client: OmeChatClient, signal: AbortSignal, notice: (text: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const finish = (error?: CliError) => {
      off();
      signal.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onAbort = () => finish();
    const off = client.onStateChange((state, reason) => {
      if (state === 'reconnecting') notice('* connection lost; reconnecting…');
      else if (state === 'connected') notice('* reconnected');
      else if (state === 'closed') finish(closedError(reason ?? 'closed'));
    });
    if (signal.aborted) finish();
    else signal.addEventListener('abort', onAbort);
  });
}
