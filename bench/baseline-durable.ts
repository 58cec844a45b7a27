/**
 * The durable floor: the cheapest honest Node relay that stores every message durably before
 * acking it, speaking the same JSON frames as OmeChat's tRPC endpoint (like baseline-server.ts):
 *   - raw `ws`, each `message.send` frame parsed and checked by hand (no schema library);
 *   - one INSERT per message into SQLite (better-sqlite3, WAL, synchronous=NORMAL);
 *   - group commit: the messages that arrive in one event-loop turn share a transaction,
 *     committed in a setImmediate;
 *   - the WAL fsynced on libuv's thread pool (fs.fsync), one at a time: batches committed
 *     while one runs wait for the next;
 *   - then the ack to the sender and the push to the peer.
 * Its WAL is kept bounded the way OmeChat's is: past 32 MiB, new commits wait while a worker
 * thread runs a FULL checkpoint and restarts the WAL with a no-op write (so its header's fsync is not on
 * the event loop either). GET /stats answers the WAL's high-water mark and the hold time.
 *
 * Run by the benchmarks in a child process: `node --import tsx baseline-durable.ts`.
 */
import { closeSync, fsync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
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
interface Part {
  to: string;
  header: string;
  ciphertext: string;
}
interface Send {
  conn: Conn;
  id: number;
  chatId: string;
  clientMessageId: string;
  envelope: { v: 1; parts: Part[] };
}
/** A stored message waiting for the fsync that makes it durable. */
interface Stored {
  send: Send;
  chat: Chat;
  seq: number;
  messageId: string;
  sentAt: number;
}

const WAL_LIMIT = 32 * 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'omechat-durable-'));
const file = join(dir, 'relay.db');
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');
db.exec(`CREATE TABLE messages (chat_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id TEXT NOT NULL,
  sender TEXT NOT NULL, client_message_id TEXT NOT NULL, envelope TEXT NOT NULL, sent_at INTEGER NOT NULL,
  PRIMARY KEY (chat_id, seq)) WITHOUT ROWID`);
db.pragma('user_version = 1'); // a first commit into the WAL, so later ones never begin it here
const insert = db.prepare('INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)');
const begin = db.prepare('BEGIN');
const commit = db.prepare('COMMIT');
const walFd = openSync(`${file}-wal`, 'r');
const shmFd = openSync(`${file}-shm`, 'r');
const pageSize = Number(db.pragma('page_size', { simple: true }));
const mxFrame = new Uint32Array(1);
const walBytes = () => {
  const frames = readSync(shmFd, mxFrame, 0, 4, 16) === 4 ? mxFrame[0]! : 0;
  return frames === 0 ? 0 : 32 + frames * (pageSize + 24);
};

const checkpointer = new Worker(
  `const { parentPort, workerData } = require('node:worker_threads');
   const Database = require(workerData.driver);
   const db = new Database(workerData.file);
   db.pragma('busy_timeout = 5000');
   db.pragma('synchronous = NORMAL');
   parentPort.on('message', () => {
     db.pragma('wal_checkpoint(FULL)');
     db.pragma('user_version = 1');
     parentPort.postMessage('done');
   });`,
  { eval: true, workerData: { file, driver: fileURLToPath(import.meta.resolve('better-sqlite3')) } },
);
checkpointer.unref();

const stats = { walHighWaterBytes: 0, checkpoints: 0, holdSeconds: 0 };
const chats = new Map<string, Chat>();
let eventId = 0;
let messageCounter = 0;
/** Stored in the open transaction, not yet committed. */
let turn: Stored[] = [];
/** Committed, waiting for the next fsync. */
let committed: Stored[] = [];
let syncing = false;
let holding = false;
let holdStarted = 0;
/** Frames that arrived while a checkpoint held commits. */
let held: Send[] = [];

const reply = (conn: Conn, id: number, data: unknown) => conn.ws.send(JSON.stringify({ id, result: { type: 'data', data } }));

/** The hand check: the fields a send needs, of the types it needs. */
function parseSend(conn: Conn, id: number, input: unknown): Send | null {
  if (typeof input !== 'object' || input === null) return null;
  const { chatId, clientMessageId, envelope } = input as Record<string, unknown>;
  if (typeof chatId !== 'string' || chatId.length > 64) return null;
  if (typeof clientMessageId !== 'string' || clientMessageId.length === 0 || clientMessageId.length > 64) return null;
  if (typeof envelope !== 'object' || envelope === null) return null;
  const { v, parts } = envelope as Record<string, unknown>;
  if (v !== 1 || !Array.isArray(parts) || parts.length === 0 || parts.length > 16) return null;
  for (const part of parts as unknown[]) {
    if (typeof part !== 'object' || part === null) return null;
    const { to, header, ciphertext } = part as Record<string, unknown>;
    if (typeof to !== 'string' || typeof header !== 'string' || typeof ciphertext !== 'string') return null;
  }
  return { conn, id, chatId, clientMessageId, envelope: envelope as Send['envelope'] };
}

function store(send: Send): void {
  const chat = chats.get(send.chatId);
  if (!chat) return reply(send.conn, send.id, null);
  if (turn.length === 0) {
    begin.run();
    setImmediate(endTurn);
  }
  const seq = chat.seq + 1;
  const messageId = `m${++messageCounter}`;
  const sentAt = Date.now();
  insert.run(send.chatId, seq, messageId, send.conn.clientHash ?? '', send.clientMessageId, JSON.stringify(send.envelope), sentAt);
  chat.seq = seq;
  turn.push({ send, chat, seq, messageId, sentAt });
}

function endTurn(): void {
  if (turn.length === 0) return;
  commit.run();
  committed.push(...turn);
  turn = [];
  const bytes = walBytes();
  if (bytes > stats.walHighWaterBytes) stats.walHighWaterBytes = bytes;
  if (!syncing) sync();
  if (bytes >= WAL_LIMIT && !holding) {
    holding = true;
    holdStarted = performance.now();
    checkpointer.postMessage('checkpoint');
  }
}

function sync(): void {
  const batch = committed;
  committed = [];
  syncing = true;
  fsync(walFd, (error) => {
    syncing = false;
    if (error) throw error;
    for (const stored of batch) deliver(stored);
    if (committed.length > 0) sync();
  });
}

function deliver({ send, chat, seq, messageId, sentAt }: Stored): void {
  reply(send.conn, send.id, { messageId, seq, sentAt });
  const message = { chatId: send.chatId, messageId, seq, senderUserHash: send.conn.clientHash, senderClientHash: send.conn.clientHash, envelope: send.envelope, sentAt };
  for (const peer of chat.members) {
    if (peer === send.conn || peer.subscriptionId === null) continue;
    const trackedId = String(++eventId);
    peer.ws.send(JSON.stringify({ id: peer.subscriptionId, result: { type: 'data', id: trackedId, data: { id: trackedId, data: { events: [{ type: 'message.new', message }] } } } }));
  }
}

checkpointer.on('message', () => {
  stats.checkpoints++;
  stats.holdSeconds += (performance.now() - holdStarted) / 1000;
  holding = false;
  const waiting = held;
  held = [];
  for (const send of waiting) store(send);
});

const http = createServer((req, res) => {
  if (req.url === '/stats') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ server: http, path: '/trpc', maxPayload: 256 * 1024 });

wss.on('connection', (ws, req) => {
  const conn: Conn = { ws, clientHash: null, subscriptionId: null, expectParams: (req.url ?? '').includes('connectionParams=1') };
  ws.on('error', () => undefined);
  ws.on('message', (raw: Buffer) => {
    let msg: { id?: unknown; method?: unknown; data?: { clientHash?: unknown }; params?: { path?: unknown; input?: unknown } };
    try {
      msg = JSON.parse(raw.toString()) as typeof msg;
    } catch {
      return ws.close(1003);
    }
    if (conn.expectParams) {
      conn.expectParams = false;
      conn.clientHash = typeof msg.data?.clientHash === 'string' ? msg.data.clientHash : null;
      return;
    }
    if (typeof msg.id !== 'number') return;
    const id = msg.id;
    if (msg.method === 'subscription') {
      conn.subscriptionId = id;
      ws.send(JSON.stringify({ id, result: { type: 'started' } }));
      return;
    }
    const path = msg.params?.path;
    if (path === 'message.send') {
      const send = parseSend(conn, id, msg.params?.input);
      if (!send) return void ws.send(JSON.stringify({ id, error: { message: 'bad input', code: -32600 } }));
      if (holding) held.push(send);
      else store(send);
    } else if (path === 'bench.join') {
      const chatId = (msg.params?.input as { chatId?: unknown } | undefined)?.chatId;
      if (typeof chatId !== 'string') return reply(conn, id, null);
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
  http.close(() => {
    closeSync(walFd);
    closeSync(shmFd);
    db.close();
    void checkpointer.terminate().then(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
});
