import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileKeyStore } from './file-key-store.js';
import { describeKeyStore } from './key-store.contract.js';

const made: string[] = [];
const directory = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'omechat-keys-'));
  made.push(dir);
  return dir;
};
afterAll(() => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));

describeKeyStore('FileKeyStore', async () => new FileKeyStore(join(await directory(), 'nested', 'device.json')));

describe('FileKeyStore', () => {
  it('writes a file only its owner can read, replacing a looser one, and leaves no temporary file', async () => {
    const dir = await directory();
    const path = join(dir, 'device.json');
    await writeFile(path, 'old', { mode: 0o644 });
    const store = new FileKeyStore(path);
    await store.save('{"identitySecret":"..."}');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['device.json']);
    expect(await store.load()).toBe('{"identitySecret":"..."}');
  });
});
