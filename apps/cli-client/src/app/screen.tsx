import { useEffect, useRef, useState } from 'react';
import { Box, Text, useInput, useStdout } from 'ink';
import { describeEnd, statusOf, type ChatEntry, type ChatLine } from '@omechat/sdk/chat-state';
import type { MessageStatus } from '@omechat/sdk';
import type { AppState } from './state.js';
import { currentChat } from './state.js';

export const COMMANDS_HELP = '/search [0-5] [a,b]  /next  /leave  /block  /report  /safety  /chat <n>  /help  /quit  PgUp/PgDn  Tab  Esc';

export interface ScreenProps {
  state: AppState;
  /** A typed line (text or /command). */
  onSubmit: (line: string) => void;
  /** Someone is typing in the input (called on each key). */
  onTyping: () => void;
  onCancel: () => void;
  onNextChat: () => void;
  /** PageUp / PageDown: scroll the open chat by this many messages (positive: back in time). */
  onScroll?: (messages: number) => void;
  /** Clock for elapsed times; tests pass a fixed one. */
  now?: () => number;
  /** The terminal's size; by default the real one, following resizes. */
  size?: { rows: number; columns: number };
}

const CONNECTION = {
  connected: { color: 'green', label: '● connected' },
  connecting: { color: 'yellow', label: '◌ connecting…' },
  reconnecting: { color: 'yellow', label: '◌ reconnecting…' },
  closed: { color: 'red', label: '○ offline' },
} as const;

const MARKS: Record<MessageStatus, string> = { sent: '✓', delivered: '✓✓', read: '✓✓ read' };
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export const clock = (at: number) => new Date(at).toTimeString().slice(0, 5);

/** Terminal rows a text takes at this width (a slightly narrower width, as words wrap early). */
const rowsOf = (text: string, width: number) => text.split('\n').reduce((n, line) => n + Math.max(1, Math.ceil([...line].length / Math.max(1, width - 1))), 0);

/** The terminal's size, following resizes. */
function useSize(fixed?: { rows: number; columns: number }) {
  const { stdout } = useStdout();
  const read = () => fixed ?? { rows: stdout.rows || 24, columns: stdout.columns || 80 };
  const [size, setSize] = useState(read);
  useEffect(() => {
    if (fixed) return;
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => void stdout.off('resize', onResize);
  });
  return fixed ?? size;
}

function lineText(chat: ChatEntry, line: ChatLine): { who: string; text: string; mark: string } {
  const status = statusOf(chat, line);
  return { who: line.own ? 'you' : chat.peer.username, text: line.text ?? '(a message this device could not decrypt)', mark: status ? ` ${MARKS[status]}` : '' };
}

/**
 * The whole interactive app: header, chat list, the chat or the search, notice, input, help.
 * It is exactly as tall as the terminal (one row spare), so the header and the chat list
 * never scroll away; the chat shows the newest messages that fit, PageUp shows earlier ones.
 */
export function Screen({ state, onSubmit, onTyping, onCancel, onNextChat, onScroll = () => undefined, now = Date.now, size: fixed }: ScreenProps) {
  const { rows, columns } = useSize(fixed);
  // The line being typed lives in a ref, so a burst of keys in one chunk (a paste, or a
  // terminal multiplexer) is handled key by key; the state only repaints it.
  const buffer = useRef('');
  const [input, setInput] = useState('');
  const chat = currentChat(state);
  const notice = state.notice;
  const inner = columns - 4; // the box's border and padding
  const fixedRows = 1 + 1 + 4 + (notice ? rowsOf(notice, columns) : 0) + rowsOf(`> ${input} `, columns) + 1;
  const messageRows = Math.max(1, rows - 1 - fixedRows);

  // The newest messages that fit, `scroll` messages up from the bottom.
  const lines = chat?.lines ?? [];
  const end = Math.max(0, lines.length - state.scroll);
  let start = end;
  for (let used = 0; start > 0; start--) {
    const { who, text, mark } = lineText(chat!, lines[start - 1]!);
    used += rowsOf(`00:00 ${who}: ${text}${mark}`, inner);
    if (used > messageRows) break;
  }
  const visible = lines.slice(start, end);

  useInput((typed, key) => {
    if (key.escape) return onCancel();
    if (key.tab) return onNextChat();
    if (key.pageUp) return onScroll(Math.max(1, visible.length - 1));
    if (key.pageDown) return onScroll(-Math.max(1, visible.length - 1));
    if (key.backspace || key.delete) buffer.current = buffer.current.slice(0, -1);
    else if (key.return) submit();
    else if (typed && !key.ctrl && !key.meta) {
      for (const char of typed) {
        if (char === '\r' || char === '\n') submit();
        else buffer.current += char;
      }
      if (buffer.current && !buffer.current.startsWith('/')) onTyping();
    }
    setInput(buffer.current);
  });
  function submit() {
    if (buffer.current.trim()) onSubmit(buffer.current);
    buffer.current = '';
  }
  const connection = CONNECTION[state.connection];
  return (
    <Box flexDirection="column" height={rows - 1} width={columns}>
      <Box justifyContent="space-between">
        <Text bold wrap="truncate-end">
          omechat · {state.me.username}
        </Text>
        <Text color={connection.color}>{connection.label}</Text>
      </Box>
      <ChatList state={state} />
      <Box flexDirection="column" borderStyle="round" paddingX={1} height={messageRows + 4} overflow="hidden">
        {state.search ? (
          <Searching search={state.search} now={now} />
        ) : chat ? (
          <Conversation chat={chat} safetyCode={state.safetyCodes[chat.chatId] ?? null} lines={visible} earlier={start} newer={lines.length - end} />
        ) : (
          <Text dimColor>No chat open. /search to meet someone.</Text>
        )}
      </Box>
      {notice ? <Text color="cyan">{notice}</Text> : null}
      <Text>
        <Text color="gray">{'> '}</Text>
        {input}
        <Text inverse> </Text>
      </Text>
      <Text dimColor wrap="truncate-end">
        {COMMANDS_HELP}
      </Text>
    </Box>
  );
}

/** Numbered in arrival order (numbers never shift); ▸ marks the chat on screen. */
function ChatList({ state }: { state: AppState }) {
  const { chats, open } = state.chat;
  if (chats.length === 0) return <Text dimColor>Chats: none yet</Text>;
  return (
    <Text wrap="truncate-end">
      Chats:
      {chats.map((c) => (
        <Text key={c.chatId} bold={c.chatId === open} dimColor={c.end !== null && c.chatId !== open}>
          {c.chatId === open ? ' ▸' : '  '}[{c.number}] {c.peer.username}
          {c.unread > 0 ? <Text color="magenta"> ({c.unread})</Text> : null}
          {c.end ? ' ✕' : ''}
        </Text>
      ))}
    </Text>
  );
}

function Searching({ search, now }: { search: NonNullable<AppState['search']>; now: () => number }) {
  const [, tick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 500);
    return () => clearInterval(timer);
  }, []);
  const elapsed = Math.max(0, Math.floor((now() - search.since) / 1000));
  const interests = search.interests.length ? `, interests: ${search.interests.join(', ')}` : '';
  return (
    <Text>
      <Text color="yellow">{SPINNER[elapsed % SPINNER.length]}</Text> Looking for someone (age tolerance ±{search.tolerance}
      {interests}) · {elapsed} s · Esc to cancel
    </Text>
  );
}

function Conversation({ chat, safetyCode, lines, earlier, newer }: { chat: ChatEntry; safetyCode: string | null; lines: ChatLine[]; earlier: number; newer: number }) {
  const ended = describeEnd(chat);
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        {chat.peer.username}, {chat.peer.age ?? '?'}
        {safetyCode ? <Text color="green"> · safety code {safetyCode}</Text> : null}
        {chat.keyWarning ? <Text color="red"> · ⚠ {chat.keyWarning}</Text> : null}
        {earlier > 0 ? <Text dimColor> · ↑ {earlier} earlier (PgUp)</Text> : null}
      </Text>
      {lines.map((line) => {
        const { who, text, mark } = lineText(chat, line);
        return (
          <Text key={line.seq}>
            <Text dimColor>{line.sentAt ? clock(line.sentAt) : '--:--'} </Text>
            <Text color={line.own ? 'blue' : 'white'} bold>
              {who}:
            </Text>{' '}
            {line.text === null ? <Text dimColor>{text}</Text> : text}
            {mark ? <Text color={mark.includes('read') ? 'green' : 'gray'}>{mark}</Text> : null}
          </Text>
        );
      })}
      {ended ? (
        <Text color="red">— {ended} /search to meet someone new.</Text>
      ) : newer > 0 ? (
        <Text dimColor>↓ {newer} newer (PgDn)</Text>
      ) : chat.peerTyping ? (
        <Text dimColor>{chat.peer.username} is typing…</Text>
      ) : chat.lines.length === 0 ? (
        <Text color="cyan">
          Matched with {chat.peer.username} ({chat.peer.age}). Say hi!
        </Text>
      ) : null}
    </Box>
  );
}
