import { useSyncExternalStore } from 'react';
import { render } from 'ink';
import { REPORT_REASONS, type ReportReason } from '@omechat/protocol';
import type { ChatId, ClientEvent } from '@omechat/sdk';
import type { Context } from '../context.js';
import { CliError, toCliError } from '../errors.js';
import { openDevice, untilStopped, type DeviceSession } from '../session.js';
import type { SavedMessage } from '../state.js';
import { Screen } from './screen.js';
import { chatView, currentChat, initialState, reduce, withChat, type AppState, type Line } from './state.js';

const TYPING_EVERY_MS = 3_000;
const TYPING_SHOWN_MS = 6_000;

/** The app's state with subscribers, for React's useSyncExternalStore. */
class Store {
  readonly #listeners = new Set<() => void>();
  constructor(private state: AppState) {}
  get = () => this.state;
  subscribe = (listener: () => void) => {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  };
  set(change: (state: AppState) => AppState): void {
    this.state = change(this.state);
    for (const listener of this.#listeners) listener();
  }
}

/** What the keys and commands do: each calls the SDK and shows failures as a notice. */
class Actions {
  #lastSearch = { tolerance: 2, interests: [] as string[] };
  #typingSentAt = 0;
  readonly #typingFades = new Map<ChatId, NodeJS.Timeout>();
  #quit!: () => void;
  readonly quitted = new Promise<void>((resolve) => (this.#quit = resolve));

  constructor(
    private readonly session: DeviceSession,
    private readonly store: Store,
  ) {}

  notice(text: string): void {
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
    const chat = currentChat(this.store.get());
    const open = chat && !chat.ended ? chat : null;
    const needChat = () => this.notice('No open chat: /search to meet someone.');
    switch (command) {
      case '/quit':
        return this.#quit();
      case '/search':
      case '/next':
        return void this.#try(async () => {
          if (command === '/next' && open) await this.session.run((c) => c.chat.leave(open.chatId));
          if (command === '/search' && args.length) this.#lastSearch = { tolerance: Number(args[0]) || 0, interests: (args[1] ?? '').split(',').filter(Boolean) };
          this.store.set((s) => ({ ...s, search: { since: Date.now(), ...this.#lastSearch }, notice: null }));
          await this.session.run((c) => c.match.start(this.#lastSearch)).catch((error: unknown) => {
            this.store.set((s) => ({ ...s, search: null }));
            throw error;
          });
        });
      case '/leave':
        if (!open) return needChat();
        return void this.#try(() => this.session.run((c) => c.chat.leave(open.chatId)));
      case '/block':
        if (!chat) return needChat();
        return void this.#try(async () => {
          await this.session.run((c) => c.safety.block(chat.peer.userHash));
          this.notice(`${chat.peer.username} is blocked: you will never be matched again.`);
        });
      case '/report': {
        if (!chat) return needChat();
        const reason = args[0] as ReportReason;
        if (!REPORT_REASONS.includes(reason)) return this.notice(`/report <reason> [note]; reasons: ${REPORT_REASONS.join(', ')}`);
        const note = args.slice(1).join(' ') || undefined;
        return void this.#try(async () => {
          await this.session.run((c) => c.safety.report({ chatId: chat.chatId, reason, note }));
          this.notice(`Reported ${chat.peer.username} (${reason}). Thank you; /block to never meet again.`);
        });
      }
      case '/safety':
        if (!chat) return needChat();
        return void this.#try(async () => {
          const code = await this.session.run((c) => c.chat.safetyCode(chat.chatId));
          this.store.set((s) => withChat(s, chat.chatId, (c) => ({ ...c, safetyCode: code })));
          this.notice('Compare this code with your peer (in person or by another channel): if it matches, nobody is in the middle.');
        });
      case '/chat': {
        const target = this.store.get().chats[Number(args[0]) - 1];
        return target ? this.show(target.chatId) : this.notice('/chat <n>: the number from the chat list');
      }
    }
    if (command.startsWith('/')) return this.notice(`Unknown command ${command}.`);
    if (!open) return needChat();
    this.#typingSentAt = 0;
    void this.#try(async () => {
      await this.session.run((c) => c.chat.send(open.chatId, input));
    });
  };

  typing = (): void => {
    const chat = currentChat(this.store.get());
    if (!chat || chat.ended || Date.now() - this.#typingSentAt < TYPING_EVERY_MS) return;
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
    const { chats, current } = this.store.get();
    if (chats.length === 0) return;
    const at = chats.findIndex((c) => c.chatId === current);
    this.show(chats[(at + 1) % chats.length]!.chatId);
  };

  show(chatId: ChatId): void {
    this.store.set((s) => withChat({ ...s, current: chatId }, chatId, (c) => ({ ...c, unread: 0 })));
    this.markRead(chatId);
  }

  /** Tells the peer what this device has shown (best effort: receipts are a courtesy). */
  markRead(chatId: ChatId): void {
    const last = currentChat(this.store.get())?.lines.findLast((l) => !l.own);
    if (last && this.store.get().current === chatId) void this.session.client.message.markRead(chatId, last.seq).catch(() => undefined);
  }

  onEvent = (event: ClientEvent): void => {
    this.store.set((s) => reduce(s, event));
    if (event.type === 'message' && !event.own) this.markRead(event.chatId);
    // Typing is never stored and a "stopped" may never come: the mark fades by itself.
    if (event.type === 'chat.typing' && event.typing) {
      clearTimeout(this.#typingFades.get(event.chatId));
      this.#typingFades.set(event.chatId, setTimeout(() => this.store.set((s) => withChat(s, event.chatId, (c) => ({ ...c, peerTyping: false }))), TYPING_SHOWN_MS));
    }
  };
}

const linesOf = (messages: SavedMessage[]): Line[] =>
  messages.map((m) => ({ seq: m.seq, own: m.own, text: m.text, sentAt: m.sentAt, ...(m.own ? { status: 'sent' as const } : {}) }));

function App({ store, actions }: { store: Store; actions: Actions }) {
  const state = useSyncExternalStore(store.subscribe, store.get);
  return <Screen state={state} onSubmit={actions.submit} onTyping={actions.typing} onCancel={actions.cancel} onNextChat={actions.nextChat} />;
}

/** `omechat app`: the full-screen client. Needs a terminal; scripts use the other commands. */
export async function runApp(ctx: Context): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) throw new CliError('USAGE', 'The app needs a terminal; scripts use `omechat chat` or the --json commands');
  const session = await openDevice(ctx.server, ctx.state, 'app');
  try {
    const summaries = await session.run((c) => c.chat.list());
    const chats = summaries.sort((a, b) => b.lastActivityAt - a.lastActivityAt).map((s) => chatView(s, linesOf(ctx.state.messages(s.chatId))));
    const store = new Store({ ...initialState({ username: session.credentials.username, userHash: session.credentials.userHash }, chats), connection: session.client.state });
    const actions = new Actions(session, store);
    session.client.onStateChange((connection) => store.set((s) => ({ ...s, connection })));
    session.listen(actions.onEvent);
    const app = render(<App store={store} actions={actions} />);
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
