import { useEffect, useRef, useState } from 'react';
import { Box, Text, useInput } from 'ink';
import type { AppState, ChatView, Line } from './state.js';
import { currentChat } from './state.js';

export const COMMANDS_HELP =
  '/search [tolerance] [interests,…]  /next  /leave  /block  /report <reason> [note]  /safety  /chat <n>  /quit   Tab: next chat  Esc: cancel search';

export interface ScreenProps {
  state: AppState;
  /** A typed line (text or /command). */
  onSubmit: (line: string) => void;
  /** Someone is typing in the input (called on each key). */
  onTyping: () => void;
  onCancel: () => void;
  onNextChat: () => void;
  /** Clock for elapsed times; tests pass a fixed one. */
  now?: () => number;
}

const CONNECTION = {
  connected: { color: 'green', label: '● connected' },
  connecting: { color: 'yellow', label: '◌ connecting…' },
  reconnecting: { color: 'yellow', label: '◌ reconnecting…' },
  closed: { color: 'red', label: '○ offline' },
} as const;

const MARKS: Record<NonNullable<Line['status']>, string> = { sent: '✓', delivered: '✓✓', read: '✓✓ read' };
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export const clock = (at: number) => new Date(at).toTimeString().slice(0, 5);

/** The whole interactive app: header, chat list, the chat or the search, notice, input. */
export function Screen({ state, onSubmit, onTyping, onCancel, onNextChat, now = Date.now }: ScreenProps) {
  // The line being typed lives in a ref, so a burst of keys in one chunk (a paste, or a
  // terminal multiplexer) is handled key by key; the state only repaints it.
  const buffer = useRef('');
  const [input, setInput] = useState('');
  useInput((typed, key) => {
    if (key.escape) return onCancel();
    if (key.tab) return onNextChat();
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
  const chat = currentChat(state);
  const connection = CONNECTION[state.connection];
  return (
    <Box flexDirection="column">
      <Box justifyContent="space-between">
        <Text bold>omechat · {state.me.username}</Text>
        <Text color={connection.color}>{connection.label}</Text>
      </Box>
      <ChatList state={state} />
      <Box flexDirection="column" borderStyle="round" paddingX={1} minHeight={6}>
        {state.search ? <Searching search={state.search} now={now} /> : chat ? <Conversation chat={chat} /> : <Text dimColor>No chat open. /search to meet someone.</Text>}
      </Box>
      {state.notice ? <Text color="cyan">{state.notice}</Text> : null}
      <Text>
        <Text color="gray">{'> '}</Text>
        {input}
        <Text inverse> </Text>
      </Text>
      <Text dimColor>{COMMANDS_HELP}</Text>
    </Box>
  );
}

function ChatList({ state }: { state: AppState }) {
  if (state.chats.length === 0) return <Text dimColor>Chats: none yet</Text>;
  return (
    <Text>
      Chats:{' '}
      {state.chats.map((c, i) => (
        <Text key={c.chatId} bold={c.chatId === state.current} dimColor={c.ended !== null && c.chatId !== state.current}>
          [{i + 1}] {c.peer.username}
          {c.unread > 0 ? <Text color="magenta"> ({c.unread})</Text> : null}
          {c.ended ? ' ✕' : ''}
          {'  '}
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

function Conversation({ chat }: { chat: ChatView }) {
  return (
    <Box flexDirection="column">
      <Text bold>
        {chat.peer.username}, {chat.peer.age}
        {chat.safetyCode ? <Text color="green"> · safety code {chat.safetyCode}</Text> : null}
        {chat.keyWarning ? <Text color="red"> · ⚠ {chat.keyWarning}</Text> : null}
      </Text>
      {chat.lines.slice(-15).map((line) => (
        <Text key={line.seq}>
          <Text dimColor>{clock(line.sentAt)} </Text>
          <Text color={line.own ? 'blue' : 'white'} bold>
            {line.own ? 'you' : chat.peer.username}:
          </Text>{' '}
          {line.text}
          {line.status ? <Text color={line.status === 'read' ? 'green' : 'gray'}> {MARKS[line.status]}</Text> : null}
        </Text>
      ))}
      {chat.peerTyping ? <Text dimColor>{chat.peer.username} is typing…</Text> : null}
      {chat.ended ? <Text color="red">— {chat.ended}. /search to meet someone new.</Text> : null}
    </Box>
  );
}
