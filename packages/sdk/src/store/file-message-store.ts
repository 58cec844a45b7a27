import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { MessageStore } from './message-store.js';
import { MemoryMessageStore } from './message-store.js';

interface Line {
  c: string;
  s: number;
  t: string;
}

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
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const file = await open(this.path, 'a', 0o600);
      try {
        await file.appendFile(`${this.torn ? '\n' : ''}${JSON.stringify({ c: chatId, s: seq, t: text } satisfies Line)}\n`, 'utf8');
        await file.sync();
        this.torn = false;
      } finally {
        await file.close();
      }
      await super.put(chatId, seq, text);
    });
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
        if (typeof line.c === 'string' && typeof line.s === 'number' && typeof line.t === 'string') await super.put(line.c, line.s, line.t);
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
