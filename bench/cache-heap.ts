/**
 * What the history cache's bytes cost in V8's heap. Fills a MessageCache (the server's own,
 * packages/server/src/core/message-cache.ts) with --messages messages shaped like the relay
 * benchmark's (a 100-byte ciphertext, ids of the server's lengths, each message parsed from a
 * JSON frame as the server does), forces a full GC, and divides the heap it grew by the bytes
 * the cache counts. Beside it, the same messages kept as objects and counted the way the cache
 * counted them before issue 16 (JSON length of the envelope + clientMessageId + 200).
 *
 *   node --expose-gc --import tsx cache-heap.ts [--messages 200000] [--no-write]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { envelopeJsonLength, type ChatId } from '@omechat/protocol';
import { MessageCache, type MessageRecord, type Storage } from '@omechat/server/internals';
import { codeRevision, describeMachine, machine, now } from './lib/machine.ts';
import { commandLine, scriptArgs, table, writeSection } from './lib/report.ts';
import { fmt } from './lib/stats.ts';

const { values: args } = parseArgs({
  args: scriptArgs(),
  options: { messages: { type: 'string', default: '200000' }, 'no-write': { type: 'boolean', default: false } },
});
const N = Number(args.messages);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const id = (bytes: number) => randomBytes(bytes).toString('base64url');
const CIPHERTEXT = id(100);
const chats = Array.from({ length: 500 }, () => ({ chatId: id(16) as ChatId, users: [id(32), id(32)], clients: [id(16), id(16)] }));

/** A message as the server stores it: the send frame parsed, then copied (zod), then stamped. */
function message(i: number): MessageRecord {
  const chat = chats[i % chats.length]!;
  const from = i & 1;
  const frame = `{"chatId":"${chat.chatId}","envelope":{"v":1,"parts":[{"to":"${chat.clients[1 - from]}","ciphertext":"${CIPHERTEXT}","header":"${i.toString(36)}"}]},"clientMessageId":"b${from}-${i.toString(36)}"}`;
  const input = JSON.parse(frame) as { chatId: ChatId; envelope: MessageRecord['envelope']; clientMessageId: string };
  const envelope = { v: input.envelope.v, parts: input.envelope.parts.map((p) => ({ to: p.to, header: p.header, ciphertext: p.ciphertext })) };
  return {
    chatId: input.chatId,
    seq: Math.floor(i / chats.length) + 1,
    messageId: id(16) as MessageRecord['messageId'],
    senderUserHash: chat.users[from] as MessageRecord['senderUserHash'],
    senderClientHash: chat.clients[from] as MessageRecord['senderClientHash'],
    clientMessageId: input.clientMessageId,
    envelope,
    sentAt: Date.now(),
  };
}

const heap = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
const noStorage = { getMessages: async () => [] } as unknown as Storage;

// Before: the objects themselves, counted as the cache counted them.
let h0 = heap();
const objects: MessageRecord[] = [];
let objectsCounted = 0;
for (let i = 0; i < N; i++) {
  const m = message(i);
  objects.push(m);
  objectsCounted += 200 + m.clientMessageId.length + envelopeJsonLength(m.envelope);
}
const objectsHeap = heap() - h0;
objects.length = 0;

// Now: the cache, with room for everything.
h0 = heap();
const cache = new MessageCache(noStorage, Number.MAX_SAFE_INTEGER);
for (let i = 0; i < N; i++) cache.append(message(i));
const cacheHeap = heap() - h0;

const rows = [
  ['messages kept as objects, counted as before (envelope JSON + clientMessageId + 200)', fmt(objectsCounted / N), fmt(objectsHeap / N), fmt(objectsHeap / objectsCounted, 2)],
  ['MessageCache now (one flat string per message, characters + 40, + 320 per block)', fmt(cache.bytes / N), fmt(cacheHeap / N), fmt(cacheHeap / cache.bytes, 2)],
];
const machineLine = describeMachine(machine());
console.log(`machine: ${machineLine}`);
for (const r of rows) console.log(`  ${r[0]}: counted ${r[1]} B/msg, heap ${r[2]} B/msg, heap per counted byte ${r[3]}`);
if (!args['no-write']) {
  writeSection(
    'cache-heap',
    `## History cache: heap per counted byte (issue 16)

- **Machine:** ${machineLine}
- **Date:** ${now()}
- **Command:** ${commandLine('cache-heap')}
- **Code:** ${codeRevision()}
- **Setup:** ${fmt(N)} messages in 500 chats, each shaped like the relay benchmark's (100-byte ciphertext, the server's id lengths, parsed from a JSON frame and copied as zod does), heap measured after a forced full GC. Single process, no sockets: the machine's load does not change these figures.

${table(['what is held', 'counted B/msg', 'V8 heap B/msg', 'heap per counted byte'], rows)}
`,
  );
}
