/**
 * Which b-tree pages a message commit writes: drives the server's own SqliteStorage
 * (appendMessage, group commit, as the server calls it) with --pairs chats, --batch messages
 * from distinct chats per commit, then reads the WAL's frame headers (the page number of each
 * frame) after each commit, and names each page's b-tree through SQLite's dbstat table.
 * Prints WAL bytes per message and the frames per message of each table and index. No
 * server, no sockets: a few seconds.
 *
 *   node --import tsx wal-pages.ts [--pairs 500] [--batch 10] [--messages 20000] [--no-write]
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import type { ChatId, ClientHash, Envelope, UserHash } from '@omechat/protocol';
import { cryptoRandom, SqliteStorage } from '@omechat/server/internals';
import { codeRevision, describeMachine, machine, now } from './lib/machine.ts';
import { commandLine, scriptArgs, table, writeSection } from './lib/report.ts';

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '500' },
    batch: { type: 'string', default: '10' },
    messages: { type: 'string', default: '20000' },
    'no-write': { type: 'boolean', default: false },
  },
  args: scriptArgs(),
});
const PAIRS = Number(args.pairs);
const BATCH = Math.min(Number(args.batch), PAIRS);
const MESSAGES = Number(args.messages);

const dir = mkdtempSync(join(tmpdir(), 'omechat-wal-pages-'));
const file = join(dir, 'wal.sqlite');
const storage = new SqliteStorage({ file, walCheckpointBytes: Number.MAX_SAFE_INTEGER });
const createdAt = Date.now();
const ciphertext = Buffer.alloc(100, 7).toString('base64url');
const chats: { chatId: ChatId; users: [UserHash, UserHash]; clients: [ClientHash, ClientHash]; sent: number }[] = [];
for (let p = 0; p < PAIRS; p++) {
  const users = [cryptoRandom.userHash(), cryptoRandom.userHash()] as [UserHash, UserHash];
  const clients = [cryptoRandom.clientHash(), cryptoRandom.clientHash()] as [ClientHash, ClientHash];
  for (const [i, userHash] of users.entries()) {
    await storage.accounts.createUser({ userHash, username: `u${p}_${i}`, usernameKey: `u${p}_${i}`, age: 30, secretHash: 'x', createdAt });
  }
  const chatId = cryptoRandom.chatId();
  await storage.chats.createChat({ chatId, members: users, state: 'active', createdAt, endedAt: null, endReason: null, lastSeq: 0, lastActivityAt: createdAt }, []);
  chats.push({ chatId, users, clients, sent: 0 });
}

// After each commit, the frames it added: their count is the wal-index's mxFrame (a u32 at
// byte 16 of the -shm file), and each frame's 24-byte header starts with its page number
// (big-endian). A checkpoint that restarts the WAL (the storage's idle timer) resets it.
const pageSize = 4096;
const wal = openSync(`${file}-wal`, 'r');
const shm = openSync(`${file}-shm`, 'r');
const mxFrame = new Uint32Array(1);
const readMxFrame = () => (readSync(shm, mxFrame, 0, 4, 16), mxFrame[0]!);
const header = Buffer.alloc(24);
const framesOfPage = new Map<number, number>();
let frames = 0;
let seen = readMxFrame();
let next = 0;
for (let sent = 0; sent < MESSAGES; sent += BATCH) {
  const writes: Promise<unknown>[] = [];
  for (let b = 0; b < BATCH; b++) {
    const chat = chats[next++ % PAIRS]!;
    const from = chat.sent % 2;
    const envelope = { v: 1, parts: [{ to: chat.clients[1 - from]!, ciphertext, header: String(chat.sent) }] } as Envelope;
    writes.push(
      storage.chats.appendMessage({
        chatId: chat.chatId,
        messageId: cryptoRandom.messageId(),
        senderUserHash: chat.users[from]!,
        senderClientHash: chat.clients[from]!,
        clientMessageId: `m${chat.sent++}`,
        envelope,
        sentAt: Date.now(),
      }),
    );
  }
  await Promise.all(writes); // one commit: they were queued in one event-loop turn
  const end = readMxFrame();
  if (end < seen) seen = 0;
  for (let k = seen; k < end; k++) {
    readSync(wal, header, 0, 24, 32 + k * (24 + pageSize));
    const page = header.readUInt32BE(0);
    framesOfPage.set(page, (framesOfPage.get(page) ?? 0) + 1);
    frames++;
  }
  seen = end;
}
closeSync(wal);
closeSync(shm);
const reader = new Database(file, { readonly: true });
const nameOf = new Map<number, string>(
  reader.prepare<[], { name: string; pageno: number }>('SELECT name, pageno FROM dbstat').all().map((r) => [r.pageno, r.name]),
);
const byTree = new Map<string, number>();
for (const [page, n] of framesOfPage) {
  const name = page === 1 ? 'page 1 (header)' : (nameOf.get(page) ?? 'free or new');
  byTree.set(name, (byTree.get(name) ?? 0) + n);
}
reader.close();
await storage.close();
rmSync(dir, { recursive: true, force: true });

const perMsg = (n: number) => (n / MESSAGES).toFixed(3);
const rows = [...byTree].sort((a, b) => b[1] - a[1]).map(([name, n]) => [name, perMsg(n), ((n * (24 + pageSize)) / MESSAGES / 1024).toFixed(2)]);
rows.push(['all', perMsg(frames), ((frames * (24 + pageSize)) / MESSAGES / 1024).toFixed(2)]);
const machineLine = describeMachine(machine());
console.log(`machine: ${machineLine}`);
console.log(`${PAIRS} chats, ${BATCH} messages (distinct chats) per commit, ${MESSAGES} messages`);
for (const [name, f, kib] of rows) console.log(`  ${name!.padEnd(28)} ${f} frames/msg  ${kib} KiB/msg`);
if (!args['no-write']) {
  writeSection(
    'wal-pages',
    `## WAL pages a message commit writes (issue 16)

- **Machine:** ${machineLine}
- **Date:** ${now()}
- **Command:** ${commandLine('wal-pages')}
- **Code:** ${codeRevision()}
- **Setup:** the server's \`SqliteStorage\` alone (no sockets): ${PAIRS} chats, ${MESSAGES} messages of the relay benchmark's shape, ${BATCH} from distinct chats queued in one event-loop turn (one group commit), checkpoints off. Each frame the WAL gained is named by its page's b-tree (\`dbstat\`). A frame is a 4 KiB page plus a 24-byte header. The figures count pages, not time: the machine's load does not change them.

${table(['b-tree', 'WAL frames per message', 'KiB per message'], rows)}
`,
  );
}
