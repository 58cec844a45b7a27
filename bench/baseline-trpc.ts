/**
 * The stock tRPC v11 baseline: a small router on @trpc/server's own WebSocket adapter
 * (applyWSSHandler) with an in-memory mailbox per connection and no storage, driven by the
 * same JSON-RPC frames as OmeChat (bench/lib/rpc.ts):
 *   connectionParams {clientHash}   -> the context (UNAUTHORIZED without it);
 *   `events.stream` subscription    -> yields tracked({events}) batches: every event queued
 *                                      in the mailbox since the last yield;
 *   `message.send` mutation         -> acks {messageId, seq, sentAt} and queues a
 *                                      `message.new` in the mailbox of the chat's other member;
 *   `bench.join` mutation           -> joins a chat.
 * Inputs are checked with zod, as a tRPC app would.
 *
 * Run by the benchmarks in a child process: `node --import tsx baseline-trpc.ts`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { initTRPC, tracked, TRPCError } from '@trpc/server';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import { WebSocketServer } from 'ws';
import { z } from 'zod';

interface MessageNew {
  type: 'message.new';
  message: Record<string, unknown>;
}

/** Events waiting for a connection's stream, and the stream's wake-up when it is waiting. */
class Mailbox {
  queue: MessageNew[] = [];
  #wake: (() => void) | null = null;

  push(event: MessageNew): void {
    this.queue.push(event);
    this.wake();
  }

  /** Wakes a waiting take() without an event: its stream is closing. */
  wake(): void {
    this.#wake?.();
    this.#wake = null;
  }

  async take(): Promise<MessageNew[]> {
    if (this.queue.length === 0) await new Promise<void>((resolve) => (this.#wake = resolve));
    const events = this.queue;
    this.queue = [];
    return events;
  }
}

interface Chat {
  members: string[];
  seq: number;
}

const mailboxes = new Map<string, Mailbox>();
const chats = new Map<string, Chat>();
const mailbox = (clientHash: string) => {
  let box = mailboxes.get(clientHash);
  if (!box) mailboxes.set(clientHash, (box = new Mailbox()));
  return box;
};
let eventId = 0;
let messageCounter = 0;

const t = initTRPC.context<{ clientHash: string | null }>().create();
const authed = t.procedure.use(({ ctx, next }) => {
  if (ctx.clientHash === null) throw new TRPCError({ code: 'UNAUTHORIZED' });
  return next({ ctx: { clientHash: ctx.clientHash } });
});

const appRouter = t.router({
  bench: t.router({
    join: authed.input(z.object({ chatId: z.string() })).mutation(({ ctx, input }) => {
      let chat = chats.get(input.chatId);
      if (!chat) chats.set(input.chatId, (chat = { members: [], seq: 0 }));
      chat.members.push(ctx.clientHash);
      return { ok: true };
    }),
  }),
  message: t.router({
    send: authed
      .input(z.object({ chatId: z.string(), envelope: z.unknown(), clientMessageId: z.string() }))
      .mutation(({ ctx, input }) => {
        const chat = chats.get(input.chatId);
        if (!chat) throw new TRPCError({ code: 'NOT_FOUND' });
        const seq = ++chat.seq;
        const sentAt = Date.now();
        const messageId = `m${++messageCounter}`;
        const message = { chatId: input.chatId, messageId, seq, senderUserHash: ctx.clientHash, senderClientHash: ctx.clientHash, envelope: input.envelope, sentAt };
        for (const member of chat.members) if (member !== ctx.clientHash) mailbox(member).push({ type: 'message.new', message });
        return { messageId, seq, sentAt };
      }),
  }),
  events: t.router({
    stream: authed.subscription(async function* ({ ctx, signal }) {
      const box = mailbox(ctx.clientHash);
      signal?.addEventListener('abort', () => box.wake(), { once: true });
      while (!signal?.aborted) {
        const events = await box.take();
        if (events.length > 0) yield tracked(String(++eventId), { events });
      }
    }),
  }),
});

const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server: http, path: '/trpc', maxPayload: 256 * 1024 });
const handler = applyWSSHandler({
  wss,
  router: appRouter,
  createContext: ({ info }) => {
    const params = info.connectionParams as { clientHash?: unknown } | null;
    return { clientHash: typeof params?.clientHash === 'string' ? params.clientHash : null };
  },
});

http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo;
  process.stdout.write(`baseline listening on ws://127.0.0.1:${port}/trpc\n`);
});
process.once('SIGTERM', () => {
  handler.broadcastReconnectNotification();
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  http.close(() => process.exit(0));
});
