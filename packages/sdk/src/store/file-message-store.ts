import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ChatMarks, MessageStore } from './message-store.js';
import { MemoryMessageStore } from './message-store.js';

/** A text (`s`, `t`) or a chat's marks (`m`); marks lines merge in file order. */
type Line = { c: string; s: number; t: string } | { c: string; m: Partial<ChatMarks> };

/**
 * Node message store: one append-only file of JSON lines, readable by its owner only, read
 * once into memory. Each put is appended and synced before it resolves; a torn last line
 * (a crash mid-write) is skipped on load.
 */
export class FileMessageStore extends MemoryMessageStore implements MessageStore {
  private queue: Promise<unknown>;
  /** Set when the file ends in a torn line: the next append starts on a fresh one. */
  private torn = false;

  constructor(private readonly path: string) {
    super();
    this.queue = this.load();
  }

  override async get(chatId: string, seqs: readonly number[]): Promise<Map<number, string>> {
    await this.queue;
    return super.get(chatId, seqs);
  }

  override put(chatId: string, seq: number, text: string): Promise<void> {
    return this.enqueue(async () => {
      await this.append({ c: chatId, s: seq, t: text });
      await super.put(chatId, seq, text);
    });
  }

  override async marks(chatId: string): Promise<ChatMarks> {
    await this.queue;
    return super.marks(chatId);
  }

  override putMarks(chatId: string, patch: Partial<ChatMarks>): Promise<void> {
    return this.enqueue(async () => {
      await this.append({ c: chatId, m: patch });
      await super.putMarks(chatId, patch);
    });
  }

  private async append(line: Line): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const file = await open(this.path, 'a', 0o600);
    try {
      await file.appendFile(`${this.torn ? '\n' : ''}${JSON.stringify(line)}\n`, 'utf8');
      await file.sync();
      this.torn = false;
    } finally {
      await file.close();
    }
  }

  override clear(): Promise<void> {
    return this.enqueue(async () => {
      await rm(this.path, { force: true });
      await super.clear();
    });
  }

  private async load(): Promise<void> {
    let content: string;
    try {
      content = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    this.torn = content.length > 0 && !content.endsWith('\n');
    for (const raw of content.split('\n')) {
      try {
        const line = JSON.parse(raw) as Line;
        if (typeof line.c !== 'string') continue;
        if ('m' in line && typeof line.m === 'object') await super.putMarks(line.c, line.m);
        else if ('t' in line && typeof line.s === 'number' && typeof line.t === 'string') await super.put(line.c, line.s, line.t);
      } catch {
        // the empty tail, or a line torn by a crash
      }
    }
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
