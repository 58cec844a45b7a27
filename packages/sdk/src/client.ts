import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import {
  CLOSE_CODES,
  LIMITS,
  TERMINAL_CLOSE_CODES,
  registerInput,
  usernameSchema,
  type ClientHash,
  type ClientInfo,
  type Credentials,
  type LoginInput,
  type LoginOutput,
  type Me,
  type RegisterInput,
  type RegisterOutput,
  type ChatId,
  type ChatSummary,
  type Envelope,
  type HistoryInput,
  type MatchStartInput,
  type OmeEvent,
  type SendOutput,
  type StoredMessage,
  type ReportReason,
  type UserHash,
} from '@omechat/protocol';
import type { AppRouter } from '@omechat/server';
import { OmeChatError, toOmeChatError } from './errors.js';
import { Caller, type Rpc, type Trpc } from './caller.js';
import { MemoryKeyStore, type KeyStore } from './crypto/key-store.js';
import { MemoryMessageStore, type MessageStore } from './store/message-store.js';
import { SecureMessaging, type ChatEncryption, type ClientEvent } from './secure.js';
import { solvePow } from '#pow';
import type { SolveOptions } from './pow/solve.js';

/** `account.register`'s options: follow (or abort) the proof-of-work. */
export type RegisterOptions = SolveOptions;

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';
/** Why the client stopped for good; null while it may still (re)connect. */
export type ClosedReason = 'closed' | 'revoked' | 'banned' | 'unauthorized' | null;

export interface OmeChatClientOptions {
  /** The server's tRPC WebSocket URL, e.g. `ws://localhost:8080/trpc`. */
  url: string;
  /** A device's credentials from an earlier `login`; omit to start signed out. */
  credentials?: Credentials | null;
  /**
   * A WebSocket implementation for runtimes without a global one: on Node 20 pass
   * `WebSocket` from `ws`. Browsers (and Node 22+) need nothing here.
   */
  WebSocket?: WebSocketConstructor;
  /** Delay before reconnect attempt n (0-based). Default: 250 ms doubling to 3 s, with jitter. */
  retryDelayMs?: (attempt: number) => number;
  /**
   * The longest any method takes before it fails with `UNAVAILABLE`, waiting for a
   * connection and an answer included. Default 15 s. While the server refuses connections
   * calls fail at once instead, except `chat.send`, which rides out a restart until then.
   */
  callTimeoutMs?: number;
  /**
   * Where the event stream resumes: the `lastEventId` saved from `onLastEventId` by an
   * earlier run. Omit on a new device to receive only what happens from now on.
   */
  lastEventId?: string | null;
  /** Called with the resume cursor after each batch of events; persist it to resume later. */
  onLastEventId?: (lastEventId: string) => void;
  /**
   * Where this device keeps its private keys and ratchet state. Default: in memory (keys die
   * with the process). Node: `FileKeyStore` from `@omechat/sdk/file-key-store`; browsers:
   * `IndexedDbKeyStore`.
   */
  keyStore?: KeyStore;
  /**
   * Where this device keeps the text of messages it decrypted or sent, so `chat.history`
   * reads after a restart. Default: in memory. Node: `FileMessageStore` from
   * `@omechat/sdk/file-store`; browsers: `IndexedDbMessageStore`.
   */
  messageStore?: MessageStore;
}

/**
 * What the `WebSocket` option takes: the browser's global and the `ws` package's class both
 * fit, with no cast.
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => object;

export type EventListener = (event: ClientEvent) => void;

/** Where one of your messages got to: stored, on a device of the peer, read by the peer. */
export type MessageStatus = 'sent' | 'delivered' | 'read';
/**
 * A message of `chat.history`: `text` as this device decrypted or sent it (else null);
 * `status` for your own messages from the receipts this device kept, null for the peer's.
 */
export type HistoryMessage = StoredMessage & { text: string | null; own: boolean; status: MessageStatus | null };
export type RawEventListener = (event: OmeEvent) => void;

export interface OmeChatClient {
  /** The connection: `connecting`, `connected`, `reconnecting` or `closed`. */
  readonly state: ConnectionState;
  /** Why the client stopped for good (`revoked`, `banned`, `unauthorized`, `closed`); null while it may reconnect. */
  readonly closedReason: ClosedReason;
  /** The credentials this client connects with (set by `login`). */
  readonly credentials: Credentials | null;
  /** Calls `listener` on every state change; returns an unsubscribe function. */
  onStateChange(listener: (state: ConnectionState, reason: ClosedReason) => void): () => void;

  account: {
    /**
     * Creates an account. Keep the returned `secret`: it is shown once and is the only password.
     * Solves the server's proof-of-work first, off the main thread (about a second);
     * `onProgress` follows it (see src/pow/).
     */
    register(input: Omit<RegisterInput, 'pow'>, options?: RegisterOptions): Promise<RegisterOutput>;
    /** Signs this device in (a new client) and reconnects authenticated. */
    login(input: LoginInput): Promise<LoginOutput>;
    /** Who is signed in on this device. */
    me(): Promise<Me>;
    /** Replaces the secret; needs the current one (a device's token alone cannot). The new one is shown once: keep it. */
    rotateSecret(input: { secret: string }): Promise<{ secret: string }>;
    /** Deletes the account for good, signs out and erases this device's keys and messages. */
    delete(input: { secret: string }): Promise<void>;
    /**
     * Signs this device out (the client goes on, signed out). With `erase`, this device's keys
     * and message texts are wiped as well; without it they stay for the next sign-in.
     */
    signOut(options?: { erase?: boolean }): Promise<void>;
  };
  clients: {
    /** This account's devices. */
    list(): Promise<ClientInfo[]>;
    /** Signs a device out; another device than this one needs the account `secret` (this one: the client then closes as `revoked`). */
    revoke(input: { clientHash: ClientHash; secret?: string }): Promise<void>;
  };
  match: {
    /** Joins the queue; `match.found` arrives as an event (at once if a partner waits). */
    start(input: MatchStartInput): Promise<{ queued: boolean; chatId: ChatId | null }>;
    /** Leaves the queue; false if this device was not waiting. */
    cancel(): Promise<boolean>;
  };
  chat: {
    /** Your chats, open and ended, with their peer, state, end reason and unread count. */
    list(): Promise<ChatSummary[]>;
    /** Sends text, end-to-end encrypted for every device of the peer and your other devices. */
    send(chatId: ChatId, text: string, options?: { clientMessageId?: string }): Promise<SendOutput>;
    /**
     * A page of history; `text` is the plaintext this device decrypted or sent (kept in the
     * `messageStore`), else null: a device cannot decrypt twice or read what came before it.
     */
    history(input: HistoryInput): Promise<{ messages: HistoryMessage[]; hasMore: boolean }>;
    /** The code both people compare to be sure nobody sits in the middle. */
    safetyCode(chatId: ChatId): Promise<string>;
    /**
     * The chat's E2E version as this device has seen it (v2: post-quantum key agreement and
     * padding); `downgraded` when a device of the chat speaks only v1. Show it beside the
     * safety code; `encryption.downgraded` events announce it.
     */
    encryption(chatId: ChatId): ChatEncryption;
    /** Ends the chat for both; your `chat.ended` says `by: 'you'`, the peer's `by: 'peer'`. */
    leave(chatId: ChatId): Promise<void>;
    /** Tells the peer you are typing (or stopped); never stored. */
    typing(chatId: ChatId, typing: boolean): Promise<void>;
  };
  safety: {
    /** Never matched with this user again; a chat between you ends; nothing passes either way. */
    block(userHash: UserHash): Promise<void>;
    /** Lifts a block; false if there was none. */
    unblock(userHash: UserHash): Promise<boolean>;
    /** The users you blocked. */
    blocks(): Promise<{ userHash: UserHash; blockedAt: number }[]>;
    /**
     * Reports the peer of a chat, once per chat. `discloseSeqs` picks messages this device
     * decrypted to show the moderators; nothing else of the chat can reach them.
     */
    report(input: { chatId: ChatId; reason: ReportReason; note?: string; discloseSeqs?: number[] }): Promise<{ urgent: boolean }>;
  };
  /** Low level: raw envelopes. Apps use `chat.send` and the `message` event instead. */
  message: {
    /**
     * Stores an envelope in a chat. Retried calls with the same `clientMessageId` are
     * acknowledged once; omit it to get a fresh one.
     */
    send(input: { chatId: ChatId; envelope: Envelope; clientMessageId?: string }): Promise<SendOutput>;
    /** Tells the peer you have read up to `seq` (their ✓✓ read). */
    markRead(chatId: ChatId, seq: number): Promise<void>;
  };
  /**
   * Listens to the event stream (opened on the first listener, resumed after reconnects and
   * credential changes), with messages decrypted. Returns an unsubscribe function.
   */
  on(listener: EventListener): () => void;
  /** Low level: the protocol's events as they arrive, ciphertext included. */
  onRaw(listener: RawEventListener): () => void;
  /**
   * Resolves once this device's keys exist and their public halves are on the server, so
   * peers can open encrypted sessions with it. Starts by itself after sign-in.
   */
  encryptionReady(): Promise<void>;
  /**
   * Resolves once the event stream is live (a listener is attached and the server has
   * answered), so nothing that happens afterwards can be missed.
   */
  eventsLive(): Promise<void>;
  /** The resume cursor of the event stream. */
  readonly lastEventId: string | null;

  /** Switches to other credentials (or none) and reconnects with them. */
  useCredentials(credentials: Credentials | null): void;
  /** Closes the connection for good. */
  close(): Promise<void>;
}

/** Short enough that a call waiting out a server restart sees it back well within its timeout. */
export const defaultRetryDelay = (attempt: number) =>
  Math.min(3_000, 250 * 2 ** attempt) * (0.75 + Math.random() * 0.5);

type WsClient = ReturnType<typeof createWSClient>;

/** The internals tests and tools build on; not part of the public surface. */
export interface ClientInternals {
  trpc(): Trpc;
}

export function createOmeChatClient(options: OmeChatClientOptions): OmeChatClient {
  return createClient(options);
}

/** The rule each registration field must follow, said before the proof-of-work is paid. */
const REGISTER_RULES: Record<string, string> = {
  username: `username must be ${usernameSchema.description ?? 'valid'}`,
  age: `age must be a whole number from ${LIMITS.ageMin} to ${LIMITS.ageMax}`,
};
function checkRegisterInput(input: Omit<RegisterInput, 'pow'>): void {
  const checked = registerInput.safeParse(input);
  if (checked.success) return;
  const fields = [...new Set(checked.error.issues.map((issue) => String(issue.path[0] ?? 'input')))];
  const rules = fields.map((field) => REGISTER_RULES[field] ?? `${field} is not expected`);
  throw new OmeChatError('BAD_REQUEST', `Invalid registration: ${rules.join('; ')}`, { fields });
}

const notSignedIn = () => new OmeChatError('UNAUTHORIZED', 'Not signed in: call account.login first (or pass saved credentials)');

/** Also hands out the internals, for this repository's tests and tools. */
export function createClient(options: OmeChatClientOptions): OmeChatClient & { internals: ClientInternals } {
  let credentials = options.credentials ?? null;
  let state: ConnectionState = 'connecting';
  let closedReason: ClosedReason = null;
  const stateListeners = new Set<(state: ConnectionState, reason: ClosedReason) => void>();
  let everConnected = false;
  let lastEventId = options.lastEventId ?? null;
  const eventListeners = new Set<EventListener>();
  const rawListeners = new Set<RawEventListener>();
  let stream: { unsubscribe(): void } | null = null;
  const keyStore = options.keyStore ?? new MemoryKeyStore();
  const messageStore = options.messageStore ?? new MemoryMessageStore();
  const caller = new Caller(() => trpc, options.callTimeoutMs ?? 15_000, (error) => {
    // The server no longer accepts these credentials (e.g. revoked while offline): stop here
    // rather than retrying forever; the app signs in again or calls useCredentials(null).
    if (error.code === 'UNAUTHORIZED' && credentials && !closedReason) {
      setState('closed', 'unauthorized');
      closeStream();
      void ws.close();
    }
  });
  /** Procedures open to anyone (register, login); every other call needs credentials. */
  const publicCall: Rpc = caller.call;
  const call: Rpc = (fn) => (credentials ? caller.call(fn) : Promise.reject(notSignedIn()));
  const signedIn = () => {
    if (!credentials) throw notSignedIn();
  };
  const secure = new SecureMessaging(caller.background, keyStore, messageStore, (event) => {
    // After close() nothing reaches the app: a key set-up cut short by it is no failure.
    if (closedReason === 'closed') return;
    for (const listener of eventListeners) {
      try {
        listener(event);
      } catch (err) {
        // An app's listener that throws must not stop the others or the stream.
        console.error('OmeChat: an event listener threw', err);
      }
    }
  });

  const closeStream = () => {
    stream?.unsubscribe();
    stream = null;
  };
  let markLive: () => void = () => undefined;
  let live = new Promise<void>((resolve) => (markLive = resolve));
  const openStream = () => {
    live = new Promise<void>((resolve) => (markLive = resolve));
    closeStream();
    if (!credentials || eventListeners.size + rawListeners.size === 0 || closedReason) return;
    stream = trpc.events.stream.subscribe(
      { lastEventId },
      {
        onData: ({ id, data }) => {
          markLive();
          for (const event of data.events) for (const listener of rawListeners) listener(event);
          // The cursor moves only once the batch is handled (decrypted), so a saved cursor
          // never skips a message the app has not seen.
          void secure.handle(eventListeners.size > 0 ? data.events : []).then(() => {
            lastEventId = id;
            options.onLastEventId?.(id);
          });
        },
        // The link resubscribes after reconnects; an error here is the server refusing.
        onError: () => undefined,
      },
    );
  };

  const setState = (next: ConnectionState, reason: ClosedReason = null) => {
    if (next === state && reason === closedReason) return;
    state = next;
    closedReason = reason;
    for (const listener of stateListeners) listener(state, closedReason);
  };

  let ws: WsClient;
  let trpc: Trpc;

  const connect = () => {
    everConnected = false;
    const current: WsClient = createWSClient({
      url: options.url,
      // Structurally the same constructor; the option's own type is loose enough for `ws`.
      WebSocket: options.WebSocket as typeof globalThis.WebSocket | undefined,
      // Only what the server's strict schema takes, whatever object the app saved.
      connectionParams: () => credentials && { clientHash: credentials.clientHash, accessToken: credentials.accessToken },
      retryDelayMs: options.retryDelayMs ?? defaultRetryDelay,
      onOpen: () => {
        everConnected = true;
        if (current === ws && !closedReason) setState('connected');
      },
      onClose: (cause) => {
        // After a terminal close nothing may revive this connection: the app decides what next.
        if (current !== ws || closedReason) return;
        const code = cause?.code ?? 0;
        if (TERMINAL_CLOSE_CODES.has(code)) {
          setState('closed', code === CLOSE_CODES.BANNED ? 'banned' : code === CLOSE_CODES.SESSION_REVOKED ? 'revoked' : 'unauthorized');
          void current.close();
        } else {
          setState(everConnected ? 'reconnecting' : 'connecting');
        }
      },
    });
    ws = current;
    caller.setLink('connecting');
    current.connectionState.subscribe({
      next: (link) => {
        if (current !== ws) return;
        caller.setLink(link.state === 'pending' ? 'open' : link.error ? 'refused' : 'connecting');
      },
    });
    trpc = createTRPCClient<AppRouter>({ links: [wsLink({ client: current })] });
  };
  connect();
  if (credentials) secure.start();

  /** Every method's failure is an OmeChatError, whatever step failed. */
  const typed = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      throw toOmeChatError(err);
    }
  };
  const erase = () => typed(() => Promise.all([keyStore.clear(), messageStore.clear()]).then(() => undefined));

  /** Who "own" messages are from, asked once per sign-in. */
  let myUserHash: UserHash | null = null;
  const useCredentials = (next: Credentials | null) => {
    credentials = next;
    myUserHash = null;
    const old = ws;
    setState('connecting');
    connect();
    void old.close();
    secure.reset();
    // Publish this device's keys at once, so peers can start encrypted sessions with it.
    if (next) secure.start();
    openStream();
  };

  function listen<L>(set: Set<L>, listener: L) {
    set.add(listener);
    if (!stream) openStream();
    return () => {
      set.delete(listener);
      if (eventListeners.size + rawListeners.size === 0) closeStream();
    };
  }

  let messageCounter = 0;
  const freshMessageId = () => `${Date.now().toString(36)}-${(messageCounter++).toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

  return {
    get state() {
      return state;
    },
    get closedReason() {
      return closedReason;
    },
    get credentials() {
      return credentials;
    },
    onStateChange(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
    account: {
      register: async (input, opts) => {
        checkRegisterInput(input); // before the proof-of-work, which takes seconds
        const challenge = await publicCall((t, o) => t.account.challenge.query(undefined, o));
        const pow = challenge ? { challenge, solution: await solvePow(challenge, opts ?? {}) } : undefined;
        return publicCall((t, o) => t.account.register.mutate({ ...input, pow }, o));
      },
      login: async (input) => {
        const result = await publicCall((t, o) => t.account.login.mutate(input, o));
        useCredentials({ clientHash: result.clientHash, accessToken: result.accessToken });
        return result;
      },
      me: () => call((t, o) => t.account.me.query(undefined, o)),
      rotateSecret: (input) => call((t, o) => t.account.rotateSecret.mutate(input, o)),
      delete: async (input) => {
        await call((t, o) => t.account.delete.mutate(input, o));
        useCredentials(null);
        await erase();
      },
      signOut: async ({ erase: wipe = false } = {}) => {
        useCredentials(null);
        if (wipe) await erase();
      },
    },
    clients: {
      list: () => call((t, o) => t.clients.list.query(undefined, o)),
      revoke: async (input) => {
        await call((t, o) => t.clients.revoke.mutate(input, o));
      },
    },
    match: {
      start: async (input) => {
        // A peer may write the moment the match is made: this device's keys must be out first.
        await typed(async () => {
          signedIn();
          await secure.ready();
        });
        return call((t, o) => t.match.start.mutate(input, o));
      },
      cancel: async () => (await call((t, o) => t.match.cancel.mutate(undefined, o))).cancelled,
    },
    chat: {
      list: () => call((t, o) => t.chat.list.query(undefined, o)),
      send: (chatId, text, opts) =>
        typed(() => {
          signedIn();
          const { rpc, deadline } = caller.retrying();
          return secure.send(chatId, text, opts?.clientMessageId ?? freshMessageId(), rpc, deadline);
        }),
      history: async (input) => {
        const page = await call((t, o) => t.chat.history.query(input, o));
        const [texts, marks] = await typed(() => Promise.all([secure.textsOf(input.chatId, page.messages.map((m) => m.seq)), messageStore.marks(input.chatId)]));
        myUserHash ??= (await call((t, o) => t.account.me.query(undefined, o))).userHash;
        const me = { userHash: myUserHash };
        return {
          ...page,
          messages: page.messages.map((m) => {
            const own = m.senderUserHash === me?.userHash;
            const status: MessageStatus | null = !own ? null : m.seq <= marks.readSeq ? 'read' : m.seq <= marks.deliveredSeq ? 'delivered' : 'sent';
            return { ...m, text: texts.get(m.seq) ?? null, own, status };
          }),
        };
      },
      safetyCode: (chatId) =>
        typed(() => {
          signedIn();
          return secure.safetyCode(chatId);
        }),
      encryption: (chatId) => secure.encryption(chatId),
      leave: async (chatId) => {
        // Remembered before the call: the server's chat.ended may arrive before its answer.
        await typed(() => messageStore.putMarks(chatId, { leftByYou: true }));
        try {
          await call((t, o) => t.chat.leave.mutate({ chatId }, o));
        } catch (error) {
          await messageStore.putMarks(chatId, { leftByYou: false }).catch(() => undefined);
          throw error;
        }
      },
      typing: async (chatId, typing) => {
        await call((t, o) => t.chat.typing.mutate({ chatId, typing }, o));
      },
    },
    safety: {
      block: async (userHash) => {
        await call((t, o) => t.safety.block.mutate({ userHash }, o));
      },
      unblock: async (userHash) => (await call((t, o) => t.safety.unblock.mutate({ userHash }, o))).unblocked,
      blocks: () => call((t, o) => t.safety.blocks.query(undefined, o)),
      report: async ({ chatId, reason, note, discloseSeqs = [] }) => {
        const texts = await typed(() => secure.textsOf(chatId, discloseSeqs));
        const disclosed = [...texts].map(([seq, text]) => ({ seq, text }));
        return call((t, o) => t.safety.report.mutate({ chatId, reason, note, disclosed: disclosed.length ? disclosed : undefined }, o));
      },
    },
    message: {
      send: (input) =>
        call((t, o) =>
          t.message.send.mutate({ chatId: input.chatId, envelope: input.envelope, clientMessageId: input.clientMessageId ?? freshMessageId() }, o),
        ),
      markRead: async (chatId, seq) => {
        await call((t, o) => t.message.markRead.mutate({ chatId, seq }, o));
      },
    },
    on: (listener) => listen(eventListeners, listener),
    onRaw: (listener) => listen(rawListeners, listener),
    encryptionReady: () =>
      typed(async () => {
        signedIn();
        await secure.ready();
      }),
    eventsLive: () => live,
    get lastEventId() {
      return lastEventId;
    },
    useCredentials,
    async close() {
      closeStream();
      setState('closed', 'closed');
      await ws.close().catch(() => undefined);
    },
    internals: {
      trpc: () => trpc,
    },
  };
}
