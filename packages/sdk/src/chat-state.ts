import type { ChatId, ChatSummary, UserHash } from '@omechat/protocol';
import type { MessageStatus } from './client.js';
import type { ClientEvent } from './secure.js';
import type { ChatMarks } from './store/message-store.js';

/**
 * The chat state every OmeChat client shows (chats, messages, receipts, typing, who ended a
 * chat), as one pure reducer over the SDK's events: `state = reduceChats(state, event)`.
 * Clients render from it and keep only their own view state (input line, notices, scroll).
 * It switches exhaustively over `ClientEvent`, so an event added to the SDK fails to compile
 * here until it is handled.
 */

/** One message line. `text` is null when this device could not read it. */
export interface ChatLine {
  seq: number;
  own: boolean;
  text: string | null;
  sentAt: number;
}

/** Why and by whom a chat ended; `by` is known only for `left` (see the `chat.ended` event). */
export interface ChatEnd {
  reason: 'left' | 'blocked' | 'banned' | 'deleted';
  by: 'you' | 'peer' | null;
}

/** One chat as a client shows it. */
export interface ChatEntry {
  chatId: ChatId;
  /**
   * A number that never changes while the chat is listed: chats are numbered in the order
   * they arrived, so a new chat never shifts the others' numbers.
   */
  number: number;
  peer: ChatSummary['peer'];
  /** Null while the chat is open. */
  end: ChatEnd | null;
  /** Known messages, by seq. */
  lines: ChatLine[];
  unread: number;
  peerTyping: boolean;
  /** Receipts for your messages: the peer got / read them up to these seqs. */
  deliveredSeq: number;
  readSeq: number;
  /** Shown beside the safety code: a peer's identity key changed, or the chat fell back to E2E v1. */
  keyWarning: string | null;
}

/** Everything `reduceChats` keeps: your user hash, the chats, the one on screen. */
export interface ChatState {
  me: UserHash;
  /** In `number` order. */
  chats: ChatEntry[];
  /** The chat on screen: its messages do not count as unread. */
  open: ChatId | null;
}

/** What a client loaded at start: a chat from `chat.list` (or its own cache), its lines and marks. */
export interface LoadedChat {
  summary: Pick<ChatSummary, 'chatId' | 'peer' | 'state' | 'endReason' | 'unread'>;
  lines?: ChatLine[];
  marks?: ChatMarks;
}

/** Actions of the client itself, beside the SDK's events. */
export type ChatAction =
  | ClientEvent
  /** The user opened a chat: it is on screen, its unread count is cleared. */
  | { type: 'chat.opened'; chatId: ChatId | null }
  /** Chats known from storage or `chat.list`; known ones are updated, new ones numbered after the rest. */
  | { type: 'chats.loaded'; chats: LoadedChat[] };

/** The state at start, from stored or listed chats; the first chat still open is on screen. */
export function initialChatState(me: UserHash, chats: LoadedChat[] = []): ChatState {
  const state = reduceChats({ me, chats: [], open: null }, { type: 'chats.loaded', chats });
  return { ...state, open: state.chats.find((c) => !c.end)?.chatId ?? null };
}

/** Where your own message got to; null for the peer's. */
export function statusOf(chat: ChatEntry, line: ChatLine): MessageStatus | null {
  if (!line.own) return null;
  return line.seq <= chat.readSeq ? 'read' : line.seq <= chat.deliveredSeq ? 'delivered' : 'sent';
}

/** One sentence saying how a chat ended, for any client to show. */
export function describeEnd(chat: ChatEntry): string | null {
  if (!chat.end) return null;
  switch (chat.end.reason) {
    case 'left':
      return chat.end.by === 'you' ? 'You left the chat.' : chat.end.by === 'peer' ? `${chat.peer.username} left the chat.` : 'The chat ended.';
    case 'blocked':
      return 'The chat was ended by a block.';
    case 'banned':
      return 'The chat was ended by a ban.';
    case 'deleted':
      return `${chat.peer.username} deleted their account; the chat ended.`;
  }
}

/** The chat on screen, if any. */
export const openChat = (state: ChatState): ChatEntry | null => state.chats.find((c) => c.chatId === state.open) ?? null;

/** Applies one event or action. Pure: the same state and action always give the same state. */
export function reduceChats(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'chats.loaded': {
      let chats = state.chats;
      for (const { summary, lines = [], marks } of action.chats) {
        const loaded = {
          peer: summary.peer,
          end: summary.state === 'ended' ? { reason: summary.endReason ?? 'left', by: summary.endReason === 'left' ? (marks?.leftByYou ? 'you' : 'peer') : null } : null,
          deliveredSeq: marks?.deliveredSeq ?? 0,
          readSeq: marks?.readSeq ?? 0,
        } satisfies Partial<ChatEntry>;
        const known = chats.find((c) => c.chatId === summary.chatId);
        chats = known
          ? chats.map((c) =>
              c === known
                ? { ...c, ...loaded, end: c.end ?? loaded.end, deliveredSeq: Math.max(c.deliveredSeq, loaded.deliveredSeq), readSeq: Math.max(c.readSeq, loaded.readSeq), lines: mergeLines(c.lines, lines) }
                : c,
            )
          : [...chats, { chatId: summary.chatId, number: nextNumber(chats), ...loaded, lines: mergeLines([], lines), unread: summary.unread, peerTyping: false, keyWarning: null }];
      }
      return { ...state, chats };
    }
    case 'chat.opened':
      return { ...change(state, action.chatId, (c) => ({ ...c, unread: 0 })), open: action.chatId };
    case 'match.found': {
      if (state.chats.some((c) => c.chatId === action.chatId)) return state;
      const chat: ChatEntry = { chatId: action.chatId, number: nextNumber(state.chats), peer: action.peer, end: null, lines: [], unread: 0, peerTyping: false, deliveredSeq: 0, readSeq: 0, keyWarning: null };
      return { ...state, chats: [...state.chats, chat], open: action.chatId };
    }
    case 'message':
    case 'message.undecryptable': {
      const own = action.type === 'message' ? action.own : action.from === state.me;
      const line: ChatLine = { seq: action.seq, own, text: action.type === 'message' ? action.text : null, sentAt: action.type === 'message' ? action.sentAt : 0 };
      return change(state, action.chatId, (chat) => {
        if (chat.lines.some((l) => l.seq === line.seq)) return chat;
        return {
          ...chat,
          lines: mergeLines(chat.lines, [line]),
          unread: own || state.open === chat.chatId ? chat.unread : chat.unread + 1,
          peerTyping: own ? chat.peerTyping : false,
        };
      });
    }
    case 'message.delivered':
      if (action.by === state.me) return state;
      return change(state, action.chatId, (chat) => ({ ...chat, deliveredSeq: Math.max(chat.deliveredSeq, action.seq) }));
    case 'message.read':
      // Your own read receipt (from another of your devices) clears what it read here too.
      if (action.by === state.me) return change(state, action.chatId, (chat) => ({ ...chat, unread: chat.lines.filter((l) => !l.own && l.seq > action.seq).length }));
      return change(state, action.chatId, (chat) => ({ ...chat, readSeq: Math.max(chat.readSeq, action.seq), deliveredSeq: Math.max(chat.deliveredSeq, action.seq) }));
    case 'chat.typing':
      if (action.userHash === state.me) return state;
      return change(state, action.chatId, (chat) => ({ ...chat, peerTyping: action.typing && !chat.end }));
    case 'chat.ended':
      return change(state, action.chatId, (chat) => ({ ...chat, end: chat.end ?? { reason: action.reason, by: action.by }, peerTyping: false }));
    case 'peer.identityChanged':
      return { ...state, chats: state.chats.map((c) => (c.peer.userHash === action.userHash ? { ...c, keyWarning: 'key changed' } : c)) };
    case 'encryption.downgraded':
      return change(state, action.chatId, (chat) => ({ ...chat, keyWarning: chat.keyWarning ?? 'E2E v1: no post-quantum keys, no padding' }));
    // Not chat state: clients show these as notices.
    case 'session.revoked':
    case 'encryption.failed':
      return state;
    default:
      return unhandled(action);
  }
}

/** A compile error here means an event type is not handled above. */
function unhandled(action: never): never {
  throw new Error(`chat-state: unhandled action ${(action as { type: string }).type}`);
}

const nextNumber = (chats: ChatEntry[]) => chats.reduce((max, c) => Math.max(max, c.number), 0) + 1;

function change(state: ChatState, chatId: ChatId | null, fn: (chat: ChatEntry) => ChatEntry): ChatState {
  if (!state.chats.some((c) => c.chatId === chatId)) return state;
  return { ...state, chats: state.chats.map((c) => (c.chatId === chatId ? fn(c) : c)) };
}

function mergeLines(old: ChatLine[], added: ChatLine[]): ChatLine[] {
  if (added.length === 0) return old;
  const bySeq = new Map(old.map((l) => [l.seq, l]));
  for (const line of added) if (!bySeq.has(line.seq) || bySeq.get(line.seq)!.text === null) bySeq.set(line.seq, line);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}
