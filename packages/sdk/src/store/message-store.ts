/**
 * Where a device keeps the plaintext it decrypted or sent, so history still reads after a
 * restart (a message can be decrypted only once). It holds message text: implementations
 * must keep it away from other users and never send it anywhere.
 */
export interface MessageStore {
  /** The texts kept for these messages of a chat, by seq (messages without text are left out). */
  get(chatId: string, seqs: readonly number[]): Promise<Map<number, string>>;
  put(chatId: string, seq: number, text: string): Promise<void>;
  /** Forgets every message (sign-out with erase, account deletion). */
  clear(): Promise<void>;
}

const keyOf = (chatId: string, seq: number) => `${chatId}:${seq}`;

/** The default: texts live as long as the process. */
export class MemoryMessageStore implements MessageStore {
  protected readonly texts = new Map<string, string>();

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

  async clear(): Promise<void> {
    this.texts.clear();
  }
}
