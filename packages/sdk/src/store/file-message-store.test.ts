import { appendFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileMessageStore } from './file-message-store.js';
import { describeMessageStore } from './message-store.contract.js';

const made: string[] = [];
const file = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'omechat-messages-'));
  made.push(dir);
  return join(dir, 'nested', 'messages.jsonl');
};
afterAll(() => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));

describeMessageStore(
  'FileMessageStore',
  async () => {
    const path = await file();
    return { store: new FileMessageStore(path), reopen: () => new FileMessageStore(path) };
  },
  { durable: true },
);

describe('FileMessageStore', () => {
  it('writes a file only its owner can read, and survives a line torn by a crash', async () => {
    const path = await file();
    await new FileMessageStore(path).put('chat', 1, 'kept');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await appendFile(path, '{"c":"chat","s":2,"t":"tor');
    const reopened = new FileMessageStore(path);
    expect(await reopened.get('chat', [1, 2])).toEqual(new Map([[1, 'kept']]));
    await reopened.put('chat', 3, 'after the crash');
    expect(await new FileMessageStore(path).get('chat', [1, 2, 3])).toEqual(new Map([[1, 'kept'], [3, 'after the crash']]));
  });
});
