/**
 * The baseline: a bare `ws` relay with no framework, no validation and no storage, speaking
 * the same JSON frames as OmeChat's tRPC endpoint so one load generator drives both.
 * It parses each call, acks the sender and pushes a `message.new` event to the chat's other
 * member, shaped like OmeChat's tracked event batch. Idle connections are held with the
 * same handshake (connectionParams, then `events.stream` started).
 *
 * Run by the benchmarks in a child process: `node --import tsx baseline-server.ts`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

interface Conn {
  ws: WebSocket;
  clientHash: string | null;
  subscriptionId: number | null;
  expectParams: boolean;
}
interface Chat {
  members: Conn[];
  seq: number;
}

const chats = new Map<string, Chat>();
let eventId = 0;
let messageCounter = 0;

const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server: http, path: '/trpc', maxPayload: 256 * 1024 });

const reply = (conn: Conn, id: number, data: unknown) => conn.ws.send(JSON.stringify({ id, result: { type: 'data', data } }));

wss.on('connection', (ws, req) => {
  const conn: Conn = { ws, clientHash: null, subscriptionId: null, expectParams: (req.url ?? '').includes('connectionParams=1') };
  ws.on('error', () => undefined);
  ws.on('message', (raw: Buffer) => {
    const msg = JSON.parse(raw.toString()) as {
      id?: number;
      method: string;
      data?: { clientHash: string };
      params?: { path: string; input: Record<string, unknown> };
    };
    if (conn.expectParams) {
      conn.expectParams = false;
      conn.clientHash = msg.data?.clientHash ?? null;
      return;
    }
    const id = msg.id!;
    if (msg.method === 'subscription') {
      conn.subscriptionId = id;
      ws.send(JSON.stringify({ id, result: { type: 'started' } }));
      return;
    }
    const path = msg.params?.path;
    const input = msg.params?.input ?? {};
    if (path === 'message.send') {
      const chatId = input.chatId as string;
      const chat = chats.get(chatId);
      if (!chat) return reply(conn, id, null);
      const seq = ++chat.seq;
      const sentAt = Date.now();
      const messageId = `m${++messageCounter}`;
      reply(conn, id, { messageId, seq, sentAt });
      const message = { chatId, messageId, seq, senderUserHash: conn.clientHash, senderClientHash: conn.clientHash, envelope: input.envelope, sentAt };
      for (const peer of chat.members) {
        if (peer === conn || peer.subscriptionId === null) continue;
        const trackedId = String(++eventId);
        peer.ws.send(
          JSON.stringify({
            id: peer.subscriptionId,
            result: { type: 'data', id: trackedId, data: { id: trackedId, data: { events: [{ type: 'message.new', message }] } } },
          }),
        );
      }
    } else if (path === 'bench.join') {
      const chatId = input.chatId as string;
      let chat = chats.get(chatId);
      if (!chat) chats.set(chatId, (chat = { members: [], seq: 0 }));
      chat.members.push(conn);
      reply(conn, id, { ok: true });
    } else {
      reply(conn, id, null);
    }
  });
  ws.on('close', () => {
    conn.subscriptionId = null;
  });
});

http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo;
  process.stdout.write(`baseline listening on ws://127.0.0.1:${port}/trpc\n`);
});
process.once('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  http.close(() => process.exit(0));
});
