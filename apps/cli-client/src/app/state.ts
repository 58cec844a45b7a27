import type { ChatId, ChatSummary, ClientEvent, ConnectionState, UserHash } from '@omechat/sdk';

/** One message line as the app shows it. Own messages carry how far they got. */
export interface Line {
  seq: number;
  own: boolean;
  text: string;
  sentAt: number;
  status?: 'sent' | 'delivered' | 'read';
}

export interface ChatView {
  chatId: ChatId;
  peer: ChatSummary['peer'];
  /** Why it ended, or null while it is open. */
  ended: string | null;
  unread: number;
  lines: Line[];
  peerTyping: boolean;
  safetyCode: string | null;
  /** Shown beside the safety code: a peer's key changed, or the chat fell back to E2E v1. */
  keyWarning?: string;
}

export interface Search {
  since: number;
  tolerance: number;
  interests: string[];
}

/** Everything the interactive app shows; the views are a function of this. */
export interface AppState {
  me: { username: string; userHash: UserHash };
  connection: ConnectionState;
  /** Most recent activity first. */
  chats: ChatView[];
  current: ChatId | null;
  search: Search | null;
  /** The last notice or error, on a line of its own. */
  notice: string | null;
}

export function initialState(me: AppState['me'], chats: ChatView[]): AppState {
  return { me, connection: 'connecting', chats, current: chats.find((c) => !c.ended)?.chatId ?? null, search: null, notice: null };
}

export function chatView(summary: ChatSummary, lines: Line[] = []): ChatView {
  return { chatId: summary.chatId, peer: summary.peer, ended: summary.state === 'ended' ? 'ended' : null, unread: summary.unread, lines, peerTyping: false, safetyCode: null };
}

const ENDED: Record<string, string> = { left: 'left the chat', blocked: 'the chat was ended by a block', banned: 'the chat was ended by a ban', deleted: 'the account was deleted' };

/** Applies one SDK event. Pure: the same state and event always give the same result. */
export function reduce(state: AppState, event: ClientEvent): AppState {
  switch (event.type) {
    case 'match.found': {
      if (state.chats.some((c) => c.chatId === event.chatId)) return state;
      const chat: ChatView = { chatId: event.chatId, peer: event.peer, ended: null, unread: 0, lines: [], peerTyping: false, safetyCode: null };
      return { ...state, chats: [chat, ...state.chats], current: event.chatId, search: null, notice: `Matched with ${event.peer.username} (${event.peer.age}). Say hi!` };
    }
    case 'message': {
      const line: Line = { seq: event.seq, own: event.own, text: event.text, sentAt: event.sentAt, ...(event.own ? { status: 'sent' as const } : {}) };
      return withChat(state, event.chatId, (chat) => ({
        ...chat,
        lines: chat.lines.some((l) => l.seq === line.seq) ? chat.lines : [...chat.lines, line].sort((a, b) => a.seq - b.seq),
        unread: event.own || state.current === chat.chatId ? chat.unread : chat.unread + 1,
        peerTyping: event.own ? chat.peerTyping : false,
      }), true);
    }
    case 'message.delivered':
    case 'message.read': {
      if (event.by === state.me.userHash) return state;
      const status = event.type === 'message.read' ? 'read' : 'delivered';
      return withChat(state, event.chatId, (chat) => ({
        ...chat,
        lines: chat.lines.map((l) => (l.own && l.seq <= event.seq && l.status !== 'read' ? { ...l, status } : l)),
      }));
    }
    case 'chat.typing':
      if (event.userHash === state.me.userHash) return state;
      return withChat(state, event.chatId, (chat) => ({ ...chat, peerTyping: event.typing }));
    case 'chat.ended':
      return withChat(state, event.chatId, (chat) => ({ ...chat, ended: ENDED[event.reason] ?? event.reason, peerTyping: false }));
    case 'message.undecryptable':
      return { ...state, notice: `A message could not be decrypted (${event.code}).` };
    case 'peer.identityChanged':
      return {
        ...state,
        chats: state.chats.map((c) => (c.peer.userHash === event.userHash ? { ...c, keyWarning: 'key changed' } : c)),
        notice: 'A key of your peer changed: compare the safety code again (/safety).',
      };
    case 'encryption.downgraded':
      return withChat(state, event.chatId, (chat) => ({ ...chat, keyWarning: chat.keyWarning ?? 'E2E v1: no post-quantum keys, no padding' }));
    case 'encryption.failed':
      return { ...state, notice: `Encryption is not ready: ${event.message}` };
    default:
      return state;
  }
}

/** Changes one chat; `touch` moves it to the top of the list. */
export function withChat(state: AppState, chatId: ChatId, change: (chat: ChatView) => ChatView, touch = false): AppState {
  const chat = state.chats.find((c) => c.chatId === chatId);
  if (!chat) return state;
  const next = change(chat);
  const others = state.chats.filter((c) => c.chatId !== chatId);
  return { ...state, chats: touch ? [next, ...others] : state.chats.map((c) => (c.chatId === chatId ? next : c)) };
}

export const currentChat = (state: AppState) => state.chats.find((c) => c.chatId === state.current) ?? null;
