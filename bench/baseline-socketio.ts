/**
 * The Socket.IO 4 baseline: the relay a chat app would write with Socket.IO, no storage.
 * A client authenticates with its handshake `auth` ({clientHash, accessToken}, the same
 * credentials OmeChat takes in connectionParams), then emits:
 *   "subscribe" (ack)            -> the counterpart of opening `events.stream`;
 *   "join" chatId (ack)          -> joins the chat's room;
 *   "send" {chatId, envelope, clientMessageId} (ack) -> acks {messageId, seq, sentAt} and
 *        pushes "events" {id, events: [{type: 'message.new', message}]} to the rest of the room,
 *        the same message object the other servers push.
 * WebSocket transport only, no per-message deflate, no HTTP long-polling.
 *
 * Run by the benchmarks in a child process: `node --import tsx baseline-socketio.ts`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';

interface SendInput {
  chatId: string;
  envelope: unknown;
  clientMessageId: string;
}

const seqs = new Map<string, number>();
let eventId = 0;
let messageCounter = 0;

const http = createServer((_req, res) => res.writeHead(404).end());
const io = new Server(http, { transports: ['websocket'], serveClient: false, maxHttpBufferSize: 256 * 1024 });

io.use((socket, next) => {
  const auth = socket.handshake.auth as { clientHash?: unknown };
  if (typeof auth.clientHash !== 'string') return next(new Error('UNAUTHORIZED'));
  socket.data.clientHash = auth.clientHash;
  next();
});

io.on('connection', (socket) => {
  const clientHash = socket.data.clientHash as string;
  socket.on('subscribe', (ack: (r: unknown) => void) => ack({ started: true }));
  socket.on('join', (chatId: string, ack: (r: unknown) => void) => {
    void socket.join(chatId);
    ack({ ok: true });
  });
  socket.on('send', (input: SendInput, ack: (r: unknown) => void) => {
    const seq = (seqs.get(input.chatId) ?? 0) + 1;
    seqs.set(input.chatId, seq);
    const sentAt = Date.now();
    const messageId = `m${++messageCounter}`;
    ack({ messageId, seq, sentAt });
    const message = { chatId: input.chatId, messageId, seq, senderUserHash: clientHash, senderClientHash: clientHash, envelope: input.envelope, sentAt };
    socket.to(input.chatId).emit('events', { id: String(++eventId), events: [{ type: 'message.new', message }] });
  });
});

http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo;
  process.stdout.write(`baseline listening on http://127.0.0.1:${port}\n`);
});
process.once('SIGTERM', () => {
  io.disconnectSockets(true);
  void io.close(() => process.exit(0));
});
