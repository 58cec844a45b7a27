import type { ChatId, ClientEvent, ConnectionState, UserHash } from '@omechat/sdk';
import { initialChatState, openChat, reduceChats, type ChatAction, type ChatEntry, type ChatState, type LoadedChat } from '@omechat/sdk/chat-state';

export interface Search {
  since: number;
  tolerance: number;
  interests: string[];
}

/**
 * Everything the interactive app shows; the views are a function of this. The chats are the
 * SDK's chat state (`@omechat/sdk/chat-state`); the rest is the app's own view state.
 */
export interface AppState {
  me: { username: string; userHash: UserHash };
  connection: ConnectionState;
  chat: ChatState;
  search: Search | null;
  /** The last notice or error, on a line of its own. */
  notice: string | null;
  /** Messages of the open chat scrolled past at the bottom (PageUp adds, PageDown takes away). */
  scroll: number;
  /** Safety codes asked for with /safety, by chat. */
  safetyCodes: Partial<Record<ChatId, string>>;
}

export function initialState(me: AppState['me'], chats: LoadedChat[] = []): AppState {
  return { me, connection: 'connecting', chat: initialChatState(me.userHash, chats), search: null, notice: null, scroll: 0, safetyCodes: {} };
}

/** Applies one SDK event or chat action. Pure: the same state and event always give the same result. */
export function reduce(state: AppState, action: ChatAction): AppState {
  const chat = reduceChats(state.chat, action);
  const next = { ...state, chat, notice: noticeFor(action) ?? state.notice };
  switch (action.type) {
    case 'match.found':
      // A new chat on screen: what was said about the search or the last chat is stale.
      return next.chat === state.chat ? state : { ...next, search: null, notice: null, scroll: 0 };
    case 'chat.opened':
      return { ...next, scroll: 0 };
    case 'chat.ended':
      return action.chatId === state.chat.open ? { ...next, notice: null } : next;
    default:
      return next;
  }
}

/** What the app says about events that are not chat state. */
function noticeFor(event: ChatAction): string | null {
  switch (event.type) {
    case 'peer.identityChanged':
      return 'A key of your peer changed: compare the safety code again (/safety).';
    case 'encryption.failed':
      return `Encryption is not ready: ${event.message}`;
    case 'session.revoked':
      return null;
    default:
      return null;
  }
}

export const currentChat = (state: AppState): ChatEntry | null => openChat(state.chat);

/** The event the app feeds itself when a typing mark fades. */
export const typingStopped = (chat: ChatEntry): ClientEvent => ({ type: 'chat.typing', chatId: chat.chatId, userHash: chat.peer.userHash, typing: false });

/** PageUp / PageDown: never above the first message nor below the newest. */
export function scrolled(state: AppState, by: number): AppState {
  const count = currentChat(state)?.lines.length ?? 0;
  return { ...state, scroll: Math.min(Math.max(0, state.scroll + by), Math.max(0, count - 1)) };
}
