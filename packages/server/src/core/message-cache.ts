import type { ChatId, ClientHash, Envelope, MessageId, UserHash } from '@omechat/protocol';
import type { MessageRecord, Storage } from '../ports/storage.js';

/** Messages per block: history pages and resumes read whole blocks, so hot chats stay in RAM. */
export const BLOCK_SIZE = 64;

/**
 * A block holds its messages serialized, one flat string each: a cached message is then one
 * leaf object the garbage collector need not trace into, and the bytes counted are the bytes
 * held. Kept as objects, a message cost 1.37-1.5x what was counted (JSON length + 200) in V8's
 * heap, and hundreds of thousands of old-generation objects for every major GC to mark.
 */
interface Block {
  key: string;
  chatId: ChatId;
  /** Ascending seqs, one per entry. */
  seqs: number[];
  entries: string[];
  bytes: number;
}

/** V8's cost of an entry beyond its characters: the string's header and the slots in `seqs` and `entries`. */
export const ENTRY_OVERHEAD = 40;
/** V8's cost of a block beyond its entries: the object, its arrays, its key and its Map entry. */
export const BLOCK_OVERHEAD = 320;

const blockOf = (seq: number) => Math.floor((seq - 1) / BLOCK_SIZE);
const keyOf = (chatId: ChatId, block: number) => `${chatId}:${block}`;

/** Only characters that never need escaping in JSON; ids and clientMessageIds are URL-safe by schema. */
const SAFE = /^[A-Za-z0-9_.:-]*$/;

/**
 * One message as a JSON array, built by a template so that the string is flat and exactly
 * its length: JSON.stringify's result kept ~170 bytes more per message in the heap (measured).
 * A string field that would need escaping (none can, by the protocol's schemas) falls back to
 * JSON.stringify.
 */
function serialize(m: MessageRecord): string {
  const envelope = JSON.stringify(m.envelope);
  if (!SAFE.test(m.messageId) || !SAFE.test(m.senderUserHash) || !SAFE.test(m.senderClientHash) || !SAFE.test(m.clientMessageId)) {
    return JSON.stringify([m.seq, m.messageId, m.senderUserHash, m.senderClientHash, m.clientMessageId, m.sentAt, m.envelope]);
  }
  const entry = `[${m.seq},"${m.messageId}","${m.senderUserHash}","${m.senderClientHash}","${m.clientMessageId}",${m.sentAt},${envelope}]`;
  entry.charCodeAt(0); // flattens the concatenation into one string now, not on first read
  return entry;
}

type Entry = [number, MessageId, UserHash, ClientHash, string, number, Envelope];
function deserialize(chatId: ChatId, entry: string): MessageRecord {
  const [seq, messageId, senderUserHash, senderClientHash, clientMessageId, sentAt, envelope] = JSON.parse(entry) as Entry;
  return { chatId, seq, messageId, senderUserHash, senderClientHash, clientMessageId, envelope, sentAt };
}
const sizeOf = (entry: string) => entry.length + ENTRY_OVERHEAD;

/**
 * Hot chat history, cached in blocks of BLOCK_SIZE consecutive seqs, evicted least recently
 * used once the cache holds more than `maxBytes`. A cached block is always complete up to
 * its chat's last stored seq: new messages are appended to it as they are stored.
 */
export class MessageCache {
  readonly #blocks = new Map<string, Block>(); // Map order = recency order
  #bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly storage: Pick<Storage, 'chats'>,
    private readonly maxBytes: number,
  ) {}

  get bytes(): number {
    return this.#bytes;
  }

  get hitRate(): number {
    const total = this.hits + this.misses;
    return total === 0 ? 0 : this.hits / total;
  }

  /** Records a freshly stored message in its block, if that block is cached or just begins. */
  append(message: MessageRecord): void {
    const block = blockOf(message.seq);
    const key = keyOf(message.chatId, block);
    const cached = this.#blocks.get(key);
    if (cached) {
      const last = cached.seqs.at(-1);
      if (last !== undefined && last + 1 !== message.seq) {
        this.#drop(key); // would leave a gap: let the next read reload it
        return;
      }
      const entry = serialize(message);
      cached.seqs.push(message.seq);
      cached.entries.push(entry);
      this.#touch(cached, sizeOf(entry));
    } else if (message.seq % BLOCK_SIZE === 1) {
      const entry = serialize(message);
      this.#insert({ key, chatId: message.chatId, seqs: [message.seq], entries: [entry], bytes: 0 }, BLOCK_OVERHEAD + sizeOf(entry));
    }
  }

  /** Messages with fromSeq <= seq <= toSeq, ascending, served from cached blocks. */
  async range(chatId: ChatId, fromSeq: number, toSeq: number): Promise<MessageRecord[]> {
    if (toSeq < fromSeq || toSeq < 1) return [];
    const out: MessageRecord[] = [];
    for (let b = blockOf(Math.max(1, fromSeq)); b <= blockOf(toSeq); b++) {
      const block = await this.#load(chatId, b, toSeq);
      block.seqs.forEach((seq, i) => {
        if (seq >= fromSeq && seq <= toSeq) out.push(deserialize(chatId, block.entries[i]!));
      });
    }
    return out;
  }

  async get(chatId: ChatId, seq: number): Promise<MessageRecord | undefined> {
    const block = await this.#load(chatId, blockOf(seq), seq);
    const i = block.seqs.indexOf(seq);
    return i < 0 ? undefined : deserialize(chatId, block.entries[i]!);
  }

  /** Forgets every cached block of a chat (after it is erased). */
  forgetChat(chatId: ChatId): void {
    for (const key of [...this.#blocks.keys()]) if (key.startsWith(`${chatId}:`)) this.#drop(key);
  }

  clear(): void {
    this.#blocks.clear();
    this.#bytes = 0;
  }

  /** The block, complete at least up to `upTo` if such messages exist in storage. */
  async #load(chatId: ChatId, block: number, upTo: number): Promise<Block> {
    const key = keyOf(chatId, block);
    const cached = this.#blocks.get(key);
    const last = cached?.seqs.at(-1) ?? block * BLOCK_SIZE;
    if (cached && last >= Math.min(upTo, (block + 1) * BLOCK_SIZE)) {
      this.hits++;
      this.#blocks.delete(key);
      this.#blocks.set(key, cached);
      return cached;
    }
    if (cached) {
      // Another server process stored messages this one has not seen: fetch only the tail.
      this.misses++;
      const tail = await this.storage.chats.getMessages(chatId, last + 1, (block + 1) * BLOCK_SIZE);
      let added = 0;
      for (const m of tail) {
        if (m.seq <= (cached.seqs.at(-1) ?? 0)) continue;
        const entry = serialize(m);
        cached.seqs.push(m.seq);
        cached.entries.push(entry);
        added += sizeOf(entry);
      }
      this.#touch(cached, added);
      return cached;
    }
    this.misses++;
    const messages = await this.storage.chats.getMessages(chatId, block * BLOCK_SIZE + 1, (block + 1) * BLOCK_SIZE);
    const entries = messages.map(serialize);
    const loaded: Block = { key, chatId, seqs: messages.map((m) => m.seq), entries, bytes: 0 };
    // Another read may have loaded it meanwhile; keep the one already in place.
    const raced = this.#blocks.get(key);
    if (raced) return raced;
    this.#insert(loaded, entries.reduce((n, e) => n + sizeOf(e), BLOCK_OVERHEAD));
    return loaded;
  }

  #insert(block: Block, bytes: number): void {
    this.#blocks.set(block.key, block);
    this.#touch(block, bytes);
  }

  #touch(block: Block, addedBytes: number): void {
    block.bytes += addedBytes;
    this.#bytes += addedBytes;
    this.#blocks.delete(block.key);
    this.#blocks.set(block.key, block);
    for (const [key] of this.#blocks) {
      if (this.#bytes <= this.maxBytes || key === block.key) break;
      this.#drop(key);
    }
  }

  #drop(key: string): void {
    const block = this.#blocks.get(key);
    if (!block) return;
    this.#blocks.delete(key);
    this.#bytes -= block.bytes;
  }
}
