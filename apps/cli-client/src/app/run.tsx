import { useSyncExternalStore } from 'react';
import { render } from 'ink';
import { REPORT_REASONS, type ReportReason } from '@omechat/protocol';
import type { ChatId, ChatSummary, ClientEvent } from '@omechat/sdk';
import type { ChatLine, LoadedChat } from '@omechat/sdk/chat-state';
import type { Context } from '../context.js';
import { CliError, toCliError } from '../errors.js';
import { openDevice, untilStopped, unreachable, type DeviceSession } from '../session.js';
import type { LocalState, SavedChat, SavedMessage } from '../state.js';
import { Screen } from './screen.js';
import { currentChat, initialState, reduce, scrolled, typingStopped, type AppState } from './state.js';

const TYPING_EVERY_MS = 3_000;
const TYPING_SHOWN_MS = 6_000;
const DEFAULT_SEARCH = { tolerance: 2, interests: [] as string[] };

/** Every command with its usage line: a command given bad arguments answers with it. */
export const USAGE: Record<string, string> = {
  '/search': `/search [age tolerance 0-5, default ${DEFAULT_SEARCH.tolerance}] [interests,comma,separated]   (plain /search repeats the last one)`,
  '/next': '/next   (leave this chat and search again)',
  '/leave': '/leave',
  '/block': '/block   (never be matched with this person again)',
  '/report': `/report <reason> [note]   reasons: ${REPORT_REASONS.join(', ')}`,
  '/safety': '/safety   (the code to compare with your peer)',
  '/chat': '/chat <n>   (the number in the chat list)',
  '/help': '/help',
  '/quit': '/quit',
};
const usageOf = (command: string) => `Usage: ${USAGE[command]}`;

/** The app's state with subscribers, for React's useSyncExternalStore. */
class Store {
  readonly #listeners = new Set<() => void>();
  constructor(
    private state: AppState,
    private readonly onChatsChange: (state: AppState) => void = () => undefined,
  ) {}
  get = () => this.state;
  subscribe = (listener: () => void) => {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  };
  set(change: (state: AppState) => AppState): void {
    const before = this.state.chat.chats;
    this.state = change(this.state);
    const after = this.state.chat.chats;
    // Kept on disk when a chat comes or ends, so the app opens with it even offline.
    if (before.length !== after.length || before.some((c, i) => c.end !== after[i]?.end)) this.onChatsChange(this.state);
    for (const listener of this.#listeners) listener();
  }
}

/** What the keys and commands do: each calls the SDK and shows failures as a notice. */
export class Actions {
  #lastSearch = DEFAULT_SEARCH;
  #typingSentAt = 0;
  readonly #typingFades = new Map<ChatId, NodeJS.Timeout>();
  #quit!: () => void;
  readonly quitted = new Promise<void>((resolve) => (this.#quit = resolve));

  constructor(
    private readonly session: Pick<DeviceSession, 'client' | 'run'>,
    private readonly store: Store,
  ) {}

  notice(text: string | null): void {
    this.store.set((s) => ({ ...s, notice: text }));
  }

  /** Runs an SDK call; a failure becomes a one-line notice, the app goes on. */
  async #try(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      const e = toCliError(error, this.session.client.closedReason);
      this.notice(`${e.code}: ${e.message}`);
    }
  }

  submit = (input: string): void => {
    const [command = '', ...args] = input.trim().split(/\s+/);
    if (!command.startsWith('/')) return this.#say(input);
    if (!(command in USAGE)) return this.notice(`Unknown command ${command}. /help lists the commands.`);
    const chat = currentChat(this.store.get());
    const open = chat && !chat.end ? chat : null;
    const bad = () => this.notice(usageOf(command));
    const needChat = () => this.notice(chat ? `This chat has ended. ${usageOf('/search')}` : 'No chat open: /search to meet someone.');
    switch (command) {
      case '/quit':
        return args.length ? bad() : this.#quit();
      case '/help':
        return this.notice(`Commands: ${Object.values(USAGE).join('  ·  ')}`);
      case '/search':
      case '/next': {
        if (command === '/next' && args.length) return bad();
        if (args.length > 2 || (args.length > 0 && !/^[0-5]$/.test(args[0]!))) return bad();
        if (args.length) this.#lastSearch = { tolerance: Number(args[0]), interests: (args[1] ?? '').split(',').filter(Boolean) };
        return void this.#try(async () => {
          if (command === '/next' && open) await this.session.run((c) => c.chat.leave(open.chatId));
          this.store.set((s) => ({ ...s, search: { since: Date.now(), ...this.#lastSearch }, notice: null }));
          await this.session.run((c) => c.match.start(this.#lastSearch)).catch((error: unknown) => {
            this.store.set((s) => ({ ...s, search: null }));
            throw error;
          });
        });
      }
      case '/leave':
        if (args.length) return bad();
        if (!open) return needChat();
        return void this.#try(() => this.session.run((c) => c.chat.leave(open.chatId)));
      case '/block':
        if (args.length) return bad();
        if (!chat) return needChat();
        return void this.#try(async () => {
          await this.session.run((c) => c.safety.block(chat.peer.userHash));
          this.notice(`${chat.peer.username} is blocked: you will never be matched again.`);
        });
      case '/report': {
        const reason = args[0] as ReportReason;
        if (!REPORT_REASONS.includes(reason)) return bad();
        if (!chat) return needChat();
        const note = args.slice(1).join(' ') || undefined;
        return void this.#try(async () => {
          await this.session.run((c) => c.safety.report({ chatId: chat.chatId, reason, note }));
          this.notice(`Reported ${chat.peer.username} (${reason}). Thank you; /block to never meet again.`);
        });
      }
      case '/safety':
        if (args.length) return bad();
        if (!chat) return needChat();
        return void this.#try(async () => {
          const code = await this.session.run((c) => c.chat.safetyCode(chat.chatId));
          this.store.set((s) => ({ ...s, safetyCodes: { ...s.safetyCodes, [chat.chatId]: code } }));
          this.notice('Compare this code with your peer (in person or by another channel): if it matches, nobody is in the middle.');
        });
      case '/chat': {
        const target = this.store.get().chat.chats.find((c) => String(c.number) === args[0]);
        if (args.length !== 1 || !target) return bad();
        return this.show(target.chatId);
      }
    }
  };

  #say(text: string): void {
    const chat = currentChat(this.store.get());
    if (!chat) return this.notice('No chat open: /search to meet someone.');
    if (chat.end) return this.notice('This chat has ended: /search to meet someone new.');
    this.#typingSentAt = 0;
    void this.#try(async () => {
      await this.session.run((c) => c.chat.send(chat.chatId, text));
    });
  }

  typing = (): void => {
    const chat = currentChat(this.store.get());
    if (!chat || chat.end || Date.now() - this.#typingSentAt < TYPING_EVERY_MS) return;
    this.#typingSentAt = Date.now();
    void this.session.client.chat.typing(chat.chatId, true).catch(() => undefined); // best effort
  };

  cancel = (): void => {
    if (!this.store.get().search) return;
    void this.#try(async () => {
      await this.session.run((c) => c.match.cancel());
      this.store.set((s) => ({ ...s, search: null, notice: 'Search cancelled.' }));
    });
  };

  nextChat = (): void => {
    const { chats, open } = this.store.get().chat;
    if (chats.length === 0) return;
    const at = chats.findIndex((c) => c.chatId === open);
    this.show(chats[(at + 1) % chats.length]!.chatId);
  };

  scroll = (by: number): void => this.store.set((s) => scrolled(s, by));

  show(chatId: ChatId): void {
    this.store.set((s) => reduce(s, { type: 'chat.opened', chatId }));
    this.markRead(chatId);
  }

  /** Tells the peer what this device has shown (best effort: receipts are a courtesy). */
  markRead(chatId: ChatId): void {
    const last = currentChat(this.store.get())?.lines.findLast((l) => !l.own);
    if (last && this.store.get().chat.open === chatId) void this.session.client.message.markRead(chatId, last.seq).catch(() => undefined);
  }

  onEvent = (event: ClientEvent): void => {
    this.store.set((s) => reduce(s, event));
    if (event.type === 'message' && !event.own) this.markRead(event.chatId);
    // Typing is never stored and a "stopped" may never come: the mark fades by itself.
    if (event.type === 'chat.typing' && event.typing) {
      clearTimeout(this.#typingFades.get(event.chatId));
      this.#typingFades.set(
        event.chatId,
        setTimeout(() => {
          const chat = this.store.get().chat.chats.find((c) => c.chatId === event.chatId);
          if (chat) this.store.set((s) => reduce(s, typingStopped(chat)));
        }, TYPING_SHOWN_MS),
      );
    }
  };
}

const linesOf = (messages: SavedMessage[]): ChatLine[] => messages.map((m) => ({ seq: m.seq, own: m.own, text: m.text, sentAt: m.sentAt }));

/** The chats as this device knows them: summaries (from the server or the cache), texts and marks. */
async function loadChats(state: LocalState, summaries: SavedChat[]): Promise<LoadedChat[]> {
  const marks = state.messageStore();
  return Promise.all(summaries.map(async (summary) => ({ summary, lines: linesOf(state.messages(summary.chatId)), marks: await marks.marks(summary.chatId) })));
}

const toSaved = (state: AppState): SavedChat[] =>
  state.chat.chats.map((c) => ({ chatId: c.chatId, peer: c.peer, state: c.end ? 'ended' : 'active', endReason: c.end?.reason ?? null, unread: c.unread }));

function App({ store, actions }: { store: Store; actions: Actions }) {
  const state = useSyncExternalStore(store.subscribe, store.get);
  return <Screen state={state} onSubmit={actions.submit} onTyping={actions.typing} onCancel={actions.cancel} onNextChat={actions.nextChat} onScroll={actions.scroll} />;
}

/**
 * `omechat app`: the full-screen client. Needs a terminal; scripts use the other commands.
 * It opens from what this device stored (chats, texts, receipts), so it shows them while the
 * server is down, and goes live (keys, events, the chat list) whenever the server answers.
 */
export async function runApp(ctx: Context): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) throw new CliError('USAGE', 'The app needs a terminal; scripts use `omechat chat` or the --json commands');
  const session = await openDevice(ctx.server, ctx.state, 'app', { offline: true });
  try {
    const me = { username: session.credentials.username, userHash: session.credentials.userHash };
    const store = new Store({ ...initialState(me, await loadChats(ctx.state, ctx.state.chats())), connection: session.client.state }, (s) => ctx.state.saveChats(toSaved(s)));
    const actions = new Actions(session, store);
    const app = render(<App store={store} actions={actions} />);

    let live = false;
    let going = false;
    const goLive = async () => {
      if (live || going) return;
      going = true;
      try {
        await session.run((c) => c.encryptionReady());
        session.listen(actions.onEvent);
        live = true;
        const summaries = await session.run((c) => c.chat.list());
        // Chats new to this device are numbered in the order they began.
        const byAge = [...summaries].sort((a: ChatSummary, b: ChatSummary) => a.createdAt - b.createdAt);
        const chats = await loadChats(ctx.state, byAge);
        store.set((s) => {
          const next = reduce(s, { type: 'chats.loaded', chats });
          return next.chat.open || !next.chat.chats.some((c) => !c.end) ? next : reduce(next, { type: 'chat.opened', chatId: next.chat.chats.find((c) => !c.end)!.chatId });
        });
        ctx.state.saveChats(toSaved(store.get()));
        if (store.get().notice?.startsWith('Cannot reach')) actions.notice(null);
      } catch (error) {
        const e = toCliError(error, session.client.closedReason);
        actions.notice(`${e.code === 'UNAVAILABLE' && !live ? unreachable(ctx.server.url).message : e.message} Showing what this device stored; reconnecting…`);
      } finally {
        going = false;
      }
    };
    session.client.onStateChange((connection) => {
      store.set((s) => ({ ...s, connection }));
      if (connection === 'connected') void goLive();
    });
    void goLive();
    const closed = untilStopped(session.client, new AbortController().signal, () => undefined);
    try {
      await Promise.race([actions.quitted, app.waitUntilExit(), closed]);
    } finally {
      app.unmount();
    }
  } finally {
    await session.close();
  }
}
