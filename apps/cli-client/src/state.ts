import { randomUUID } from 'node:crypto';
import { appendFileSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ChatId, ChatMarks, ChatSummary, ClientHash, KeyStore, MessageStore, UserHash } from '@omechat/sdk';
import { FileKeyStore } from '@omechat/sdk/file-store';
import { CliError } from './errors.js';

/** What `login` saves: the device's credentials plus who they belong to. */
export interface SavedCredentials {
  clientHash: ClientHash;
  accessToken: string;
  userHash: UserHash;
  username: string;
}

/** A message as this device saw it in plaintext; a device cannot decrypt a message twice. */
export interface SavedMessage {
  chatId: ChatId;
  seq: number;
  from: UserHash;
  own: boolean;
  sentAt: number;
  text: string;
}

/** A chat as the app last saw it, so it opens with its chats while the server is down. */
export type SavedChat = Pick<ChatSummary, 'chatId' | 'peer' | 'state' | 'endReason' | 'unread'>;

/**
 * The CLI's files in OMECHAT_HOME, all readable by their owner only:
 * credentials.json, keys.json (the SDK's FileKeyStore), cursor (the event stream's resume
 * id), messages.jsonl (plaintext this device has seen, for `history`), chats.json (the chat
 * list as last seen), marks.json (receipts and who left, the SDK's chat marks) and lock.
 * Writes are small and synchronous, so each is on disk before the next event is handled.
 */
export class LocalState {
  readonly keysPath: string;

  constructor(readonly home: string) {
    this.keysPath = join(home, 'keys.json');
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env): LocalState {
    return new LocalState(env.OMECHAT_HOME || join(homedir(), '.omechat'));
  }

  credentials(): SavedCredentials | null {
    const text = this.#read('credentials.json');
    return text === null ? null : (JSON.parse(text) as SavedCredentials);
  }

  requireCredentials(): SavedCredentials {
    const credentials = this.credentials();
    if (!credentials) throw new CliError('NOT_LOGGED_IN', 'Not logged in; run `omechat login --username U --secret S` first');
    return credentials;
  }

  saveCredentials(credentials: SavedCredentials): void {
    this.#writeAtomic('credentials.json', `${JSON.stringify(credentials, null, 2)}\n`);
  }

  cursor(): string | null {
    return this.#read('cursor')?.trim() || null;
  }

  saveCursor(lastEventId: string): void {
    this.#writeAtomic('cursor', `${lastEventId}\n`);
  }

  keyStore(): KeyStore {
    return new FileKeyStore(this.keysPath);
  }

  /**
   * For commands that do not encrypt. The SDK sets up keys on every signed-in client and
   * saves private keys before it publishes public ones, so a refused save publishes nothing,
   * and such a command can never overwrite the ratchet state of a running `listen`.
   */
  readOnlyKeyStore(): KeyStore {
    const file = new FileKeyStore(this.keysPath);
    const refuse = () => Promise.reject(new Error('this command does not change keys'));
    return { load: () => file.load(), save: refuse, clear: refuse };
  }

  /**
   * The SDK's message store over these files: texts come from messages.jsonl (which
   * `listen` writes with who sent each message, so the SDK's own put adds nothing), marks
   * live in marks.json.
   */
  messageStore(): MessageStore {
    const all = () => JSON.parse(this.#read('marks.json') ?? '{}') as Record<string, ChatMarks>;
    const none: ChatMarks = { deliveredSeq: 0, readSeq: 0, leftByYou: false };
    return {
      get: async (chatId, seqs) => {
        const wanted = new Set(seqs);
        return new Map(this.messages(chatId as ChatId).filter((m) => wanted.has(m.seq)).map((m) => [m.seq, m.text]));
      },
      put: async () => undefined,
      marks: async (chatId) => all()[chatId] ?? none,
      putMarks: async (chatId, patch) => {
        const marks = all();
        const old = marks[chatId] ?? none;
        marks[chatId] = {
          deliveredSeq: Math.max(old.deliveredSeq, patch.deliveredSeq ?? 0),
          readSeq: Math.max(old.readSeq, patch.readSeq ?? 0),
          leftByYou: patch.leftByYou ?? old.leftByYou,
        };
        this.#writeAtomic('marks.json', JSON.stringify(marks));
      },
      clear: async () => rmSync(join(this.home, 'marks.json'), { force: true }),
    };
  }

  chats(): SavedChat[] {
    return JSON.parse(this.#read('chats.json') ?? '[]') as SavedChat[];
  }

  saveChats(chats: SavedChat[]): void {
    this.#writeAtomic('chats.json', JSON.stringify(chats));
  }

  recordMessage(message: SavedMessage): void {
    this.#ensureHome();
    appendFileSync(join(this.home, 'messages.jsonl'), `${JSON.stringify(message)}\n`, { mode: 0o600 });
  }

  messages(chatId?: ChatId): SavedMessage[] {
    const lines = (this.#read('messages.jsonl') ?? '').split('\n').filter(Boolean);
    const all = lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as SavedMessage];
      } catch {
        return []; // a line cut short by a crash
      }
    });
    return chatId ? all.filter((m) => m.chatId === chatId) : all;
  }

  /** Forgets this device: credentials, keys, cursor and seen messages. */
  clear(): void {
    for (const name of ['credentials.json', 'keys.json', 'cursor', 'messages.jsonl', 'chats.json', 'marks.json']) rmSync(join(this.home, name), { force: true });
  }

  /**
   * One process at a time may use this device's keys: each process holds the ratchet state
   * in memory, so two of them would overwrite each other's keys.json and lose messages.
   */
  lock(command: string): () => void {
    this.#ensureHome();
    const path = join(this.home, 'lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        // Written aside and linked into place, so nobody ever reads a half-written lock.
        const temporary = `${path}.${process.pid}.tmp`;
        writeFileSync(temporary, JSON.stringify({ pid: process.pid, command }), { mode: 0o600 });
        try {
          linkSync(temporary, path);
        } finally {
          rmSync(temporary, { force: true });
        }
        let released = false;
        const release = () => {
          if (released) return;
          released = true;
          rmSync(path, { force: true });
          process.off('exit', release);
        };
        process.on('exit', release);
        return release;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const holder = this.#lockHolder(path);
        if (holder && isAlive(holder.pid)) {
          throw new CliError(
            'DEVICE_BUSY',
            `Another omechat process (pid ${holder.pid}, \`${holder.command}\`) is using this device; stop it first, or use \`omechat chat\` to send and receive in one process`,
          );
        }
        try {
          unlinkSync(path); // left behind by a process that died
        } catch {
          // another process removed it first
        }
      }
    }
    throw new CliError('DEVICE_BUSY', 'Could not take the device lock');
  }

  #lockHolder(path: string): { pid: number; command: string } | null {
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as { pid: number; command: string };
    } catch {
      return null;
    }
  }

  #ensureHome(): void {
    mkdirSync(this.home, { recursive: true, mode: 0o700 });
  }

  #read(name: string): string | null {
    try {
      return readFileSync(join(this.home, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  /** A temporary file renamed over the old one: a crash leaves the old file or the new one. */
  #writeAtomic(name: string, content: string): void {
    this.#ensureHome();
    const path = join(this.home, name);
    const temporary = `${path}.${randomUUID()}.tmp`;
    try {
      writeFileSync(temporary, content, { mode: 0o600, flag: 'wx' });
      renameSync(temporary, path);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw error;
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
