import type { ChatId, ChatSummary, ClientEvent } from '@omechat/sdk';
import { CliError, usage } from '../errors.js';
import { describeChats, describeEvent, Names, time } from '../format.js';
import { connectReadOnly, openDevice, stopSignal, untilStopped, type DeviceSession } from '../session.js';
import { intOption, listOption, timeoutMs, type Command, type Context, type OptionSpec } from '../context.js';

export const MATCH_OPTIONS: OptionSpec = { tolerance: { type: 'string' }, interests: { type: 'string' } };
const DEFAULT_TOLERANCE = 2;
export const DEFAULT_MATCH_TIMEOUT_S = 60;

export interface Match {
  chatId: ChatId;
  peer: Pick<ChatSummary['peer'], 'userHash' | 'username' | 'age'>;
}

export function matchInput(ctx: Context) {
  return { tolerance: intOption(ctx, 'tolerance') ?? DEFAULT_TOLERANCE, interests: listOption(ctx, 'interests') };
}

/**
 * Queues for a stranger and waits for the chat. Chats that existed before are not this match
 * (their `match.found` may still be in the backlog). On timeout or abort the ticket is
 * withdrawn, unless a match beat the withdrawal.
 */
export async function findMatch(session: DeviceSession, input: ReturnType<typeof matchInput>, waitMs: number, signal: AbortSignal): Promise<Match> {
  const known = new Set((await session.run((c) => c.chat.list())).map((c) => c.chatId));
  let onFound: (match: Match) => void = () => undefined;
  const found = new Promise<Match>((resolve) => (onFound = resolve));
  const off = session.listen((event) => {
    if (event.type === 'match.found' && !known.has(event.chatId)) onFound({ chatId: event.chatId, peer: event.peer });
  });
  try {
    const started = await session.run((c) => c.match.start(input));
    if (started.chatId) {
      // Matched at once. Its match.found still comes through the stream; waiting for it
      // moves this device's cursor past it, so a later `listen` resumes from here.
      const event = await raceStop(found, 3_000);
      if (typeof event === 'object') return event;
      const chat = (await session.run((c) => c.chat.list())).find((c) => c.chatId === started.chatId);
      if (chat) return { chatId: chat.chatId, peer: chat.peer };
    }
    const outcome = await raceStop(found, waitMs, signal);
    if (outcome !== 'timeout' && outcome !== 'aborted') return outcome;
    const cancelled = await session.client.match.cancel().catch(() => true);
    if (!cancelled) {
      // Not queued any more: matched just now (or the ticket expired).
      const late = await raceStop(found, 2_000);
      if (typeof late === 'object') return late;
    }
    throw outcome === 'timeout'
      ? new CliError('TIMEOUT', `Nobody to match with within ${Math.round(waitMs / 1000)} s`)
      : new CliError('CANCELLED', 'Stopped before a match was found');
  } finally {
    off();
  }
}

/** `promise`, unless `ms` pass or `signal` aborts first. */
async function raceStop<T>(promise: Promise<T>, ms: number, signal?: AbortSignal): Promise<T | 'timeout' | 'aborted'> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort = () => undefined as void;
  const stop = new Promise<'timeout' | 'aborted'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
    onAbort = () => resolve('aborted');
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort);
  });
  try {
    return await Promise.race([promise, stop]);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

const chats: Command = {
  args: '',
  summary: 'list your chats',
  async run(ctx) {
    const conn = await connectReadOnly(ctx.server, ctx.state);
    try {
      const chats = await conn.run((c) => c.chat.list());
      ctx.out.result({ chats }, () => describeChats(chats));
    } finally {
      await conn.close();
    }
  },
};

const history: Command = {
  args: '<chatId> [--limit N] [--before SEQ]',
  summary: "a chat's messages (text only for messages this device has seen)",
  options: { limit: { type: 'string' }, before: { type: 'string' } },
  positionals: [1, 1],
  async run(ctx) {
    const chatId = ctx.positionals[0] as ChatId;
    const limit = intOption(ctx, 'limit');
    const beforeSeq = intOption(ctx, 'before');
    const conn = await connectReadOnly(ctx.server, ctx.state);
    try {
      const [page, list] = await Promise.all([
        conn.run((c) => c.chat.history({ chatId, limit, beforeSeq })),
        conn.run((c) => c.chat.list()),
      ]);
      const texts = new Map(ctx.state.messages(chatId).map((m) => [m.seq, m.text]));
      const messages = page.messages
        .map((m) => ({
          seq: m.seq,
          messageId: m.messageId,
          from: m.senderUserHash,
          own: m.senderUserHash === conn.credentials.userHash,
          sentAt: m.sentAt,
          text: texts.get(m.seq) ?? m.text,
        }))
        .sort((a, b) => a.seq - b.seq);
      const names = new Names(conn.credentials);
      names.addChats(list);
      ctx.out.result({ chatId, messages, hasMore: page.hasMore }, () =>
        [
          ...(page.hasMore ? [`(older messages: --before ${messages[0]?.seq})`] : []),
          ...messages.map((m) => `#${m.seq} ${time(m.sentAt)} <${names.of(m.from)}> ${m.text ?? '(not readable on this device)'}`),
        ].join('\n') || 'No messages yet.',
      );
    } finally {
      await conn.close();
    }
  },
};

const send: Command = {
  args: '<chatId> <text>',
  summary: 'send one message and wait for the server to store it',
  positionals: [2, Infinity],
  async run(ctx) {
    const [chatId, ...words] = ctx.positionals as [ChatId, ...string[]];
    const text = words.join(' ');
    if (text.trim() === '') throw usage('the message is empty');
    const session = await openDevice(ctx.server, ctx.state, 'send');
    try {
      const ack = await session.run((c) => c.chat.send(chatId, text));
      ctx.state.recordMessage({ chatId, seq: ack.seq, from: session.credentials.userHash, own: true, sentAt: ack.sentAt, text });
      ctx.out.result({ chatId, ...ack }, () => `Sent (#${ack.seq}).`);
    } finally {
      await session.close();
    }
  },
};

const match: Command = {
  args: '[--tolerance N] [--interests a,b] [--timeout S]',
  summary: `meet a stranger: waits up to --timeout seconds (default ${DEFAULT_MATCH_TIMEOUT_S}) for a match`,
  options: MATCH_OPTIONS,
  async run(ctx) {
    const input = matchInput(ctx);
    const waitMs = timeoutMs(ctx, DEFAULT_MATCH_TIMEOUT_S);
    const session = await openDevice(ctx.server, ctx.state, 'match');
    const stop = stopSignal();
    try {
      ctx.out.notice('Looking for someone to talk to…');
      const { chatId, peer } = await findMatch(session, input, waitMs, stop.signal);
      ctx.out.result({ chatId, peer }, () =>
        [`Matched with ${peer.username} (${peer.age}).`, `Chat: ${chatId}`, `Try: omechat chat ${chatId}`].join('\n'),
      );
    } finally {
      stop.dispose();
      await session.close();
    }
  },
};

const listen: Command = {
  args: '',
  summary: 'print events as they arrive, until Ctrl+C',
  async run(ctx) {
    const session = await openDevice(ctx.server, ctx.state, 'listen');
    const stop = stopSignal();
    try {
      const names = new Names(session.credentials);
      names.addChats(await session.run((c) => c.chat.list()));
      session.listen((event: ClientEvent) => {
        if (event.type === 'match.found') names.addPeer(event.chatId, event.peer);
        if (ctx.out.json) return ctx.out.line(JSON.stringify(event));
        const line = describeEvent(event, names);
        if (line) ctx.out.line(line);
      });
      ctx.out.notice('Listening for events (Ctrl+C to stop)…');
      await untilStopped(session.client, stop.signal, (text) => ctx.out.notice(text));
    } finally {
      stop.dispose();
      await session.close();
    }
  },
};

export const chatCommands: Record<string, Command> = { chats, history, send, match, listen };
