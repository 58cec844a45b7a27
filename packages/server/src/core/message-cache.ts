import { envelopeJsonLength, type ChatId } from '@omechat/protocol';
import type { MessageRecord, Storage } from '../ports/storage.js';

/** Messages per block: history pages and resumes read whole blocks, so hot chats stay in RAM. */
export const BLOCK_SIZE = 64;

interface Block {
  key: string;
  messages: MessageRecord[];
  bytes: number;
}

const blockOf = (seq: number) => Math.floor((seq - 1) / BLOCK_SIZE);
const keyOf = (chatId: ChatId, block: number) => `${chatId}:${block}`;
const sizeOf = (m: MessageRecord) => 200 + m.clientMessageId.length + envelopeJsonLength(m.envelope);

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
    private readonly storage: Storage,
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
      const last = cached.messages.at(-1);
      if (last && last.seq + 1 !== message.seq) {
        this.#drop(key); // would leave a gap: let the next read reload it
        return;
      }
      cached.messages.push(message);
      this.#touch(cached, sizeOf(message));
    } else if (message.seq % BLOCK_SIZE === 1) {
      this.#insert({ key, messages: [message], bytes: 0 }, sizeOf(message));
    }
  }

  /** Messages with fromSeq <= seq <= toSeq, ascending, served from cached blocks. */
  async range(chatId: ChatId, fromSeq: number, toSeq: number): Promise<MessageRecord[]> {
    if (toSeq < fromSeq || toSeq < 1) return [];
    const out: MessageRecord[] = [];
    for (let b = blockOf(Math.max(1, fromSeq)); b <= blockOf(toSeq); b++) {
      const block = await this.#load(chatId, b, toSeq);
      for (const m of block.messages) if (m.seq >= fromSeq && m.seq <= toSeq) out.push(m);
    }
    return out;
  }

  async get(chatId: ChatId, seq: number): Promise<MessageRecord | undefined> {
    const block = await this.#load(chatId, blockOf(seq), seq);
    return block.messages.find((m) => m.seq === seq);
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
    const last = cached?.messages.at(-1)?.seq ?? block * BLOCK_SIZE;
    if (cached && last >= Math.min(upTo, (block + 1) * BLOCK_SIZE)) {
      this.hits++;
      this.#blocks.delete(key);
      this.#blocks.set(key, cached);
      return cached;
    }
    if (cached) {
      // Another server process stored messages this one has not seen: fetch only the tail.
      this.misses++;
      const tail = await this.storage.getMessages(chatId, last + 1, (block + 1) * BLOCK_SIZE);
      const fresh = tail.filter((m) => m.seq > (cached.messages.at(-1)?.seq ?? 0));
      cached.messages.push(...fresh);
      this.#touch(cached, fresh.reduce((n, m) => n + sizeOf(m), 0));
      return cached;
    }
    this.misses++;
    const messages = await this.storage.getMessages(chatId, block * BLOCK_SIZE + 1, (block + 1) * BLOCK_SIZE);
    const loaded: Block = { key, messages, bytes: 0 };
    // Another read may have loaded it meanwhile; keep the one already in place.
    const raced = this.#blocks.get(key);
    if (raced) return raced;
    this.#insert(loaded, messages.reduce((n, m) => n + sizeOf(m), 0));
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
