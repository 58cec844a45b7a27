/**
 * What a device knows about a chat besides message texts, kept so a reload or restart shows
 * the same thing: how far the peer got with your messages, and whether you left the chat
 * (the server's `chat.ended` says only that someone left).
 */
export interface ChatMarks {
  /** The peer's device received your messages up to this seq (0: none known). */
  deliveredSeq: number;
  /** The peer has read your messages up to this seq (0: none known). */
  readSeq: number;
  /** This device ended the chat with `chat.leave`. */
  leftByYou: boolean;
}

export const NO_MARKS: ChatMarks = Object.freeze({ deliveredSeq: 0, readSeq: 0, leftByYou: false });

/** Receipts only move forward: a late, older receipt never takes a ✓✓ read back. */
export function mergeMarks(old: ChatMarks, patch: Partial<ChatMarks>): ChatMarks {
  return {
    deliveredSeq: Math.max(old.deliveredSeq, patch.deliveredSeq ?? 0),
    readSeq: Math.max(old.readSeq, patch.readSeq ?? 0),
    leftByYou: patch.leftByYou ?? old.leftByYou,
  };
}

/**
 * Where a device keeps the plaintext it decrypted or sent, so history still reads after a
 * restart (a message can be decrypted only once), and each chat's marks (receipts, who
 * left). It holds message text: implementations must keep it away from other users and
 * never send it anywhere.
 */
export interface MessageStore {
  /** The texts kept for these messages of a chat, by seq (messages without text are left out). */
  get(chatId: string, seqs: readonly number[]): Promise<Map<number, string>>;
  put(chatId: string, seq: number, text: string): Promise<void>;
  /** The chat's marks; `NO_MARKS` for a chat it never saw. */
  marks(chatId: string): Promise<ChatMarks>;
  /** Merges `patch` into the chat's marks with `mergeMarks` (receipts only move forward). */
  putMarks(chatId: string, patch: Partial<ChatMarks>): Promise<void>;
  /** Forgets every message and mark (sign-out with erase, account deletion). */
  clear(): Promise<void>;
}

const keyOf = (chatId: string, seq: number) => `${chatId}:${seq}`;

/** The default: texts live as long as the process. */
export class MemoryMessageStore implements MessageStore {
  protected readonly texts = new Map<string, string>();
  protected readonly chatMarks = new Map<string, ChatMarks>();

  async get(chatId: string, seqs: readonly number[]): Promise<Map<number, string>> {
    const found = new Map<number, string>();
    for (const seq of seqs) {
      const text = this.texts.get(keyOf(chatId, seq));
      if (text !== undefined) found.set(seq, text);
    }
    return found;
  }

  async put(chatId: string, seq: number, text: string): Promise<void> {
    this.texts.set(keyOf(chatId, seq), text);
  }

  async marks(chatId: string): Promise<ChatMarks> {
    return this.chatMarks.get(chatId) ?? NO_MARKS;
  }

  async putMarks(chatId: string, patch: Partial<ChatMarks>): Promise<void> {
    this.chatMarks.set(chatId, mergeMarks(this.chatMarks.get(chatId) ?? NO_MARKS, patch));
  }

  async clear(): Promise<void> {
    this.texts.clear();
    this.chatMarks.clear();
  }
}
