import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnServer } from './harness.js';

const DRIVERS = ['better-sqlite3', 'ioredis', 'pg'];

/** The database drivers the `omechat-server` binary had loaded when it stopped, started with `env`. */
async function driversLoadedBy(env: Record<string, string>): Promise<string[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'omechat-drivers-'));
  try {
    const list = join(dataDir, 'loaded.txt');
    const preload = join(dataDir, 'record-loaded.cjs');
    // The drivers are CommonJS: require.cache holds them even when an ES module imported them.
    writeFileSync(preload, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, Object.keys(require.cache).join('\\n')));`);
    const server = await spawnServer(dataDir, 0, 'warn', { ...env, NODE_OPTIONS: `--require ${preload}` });
    expect(await server.stop()).toBe(0);
    const packages = readFileSync(list, 'utf8')
      .split('\n')
      .filter((file) => file.includes('/node_modules/'))
      .map((file) => file.split('/node_modules/').at(-1)!.split('/')[0]!);
    return DRIVERS.filter((driver) => packages.includes(driver));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe('database drivers', () => {
  it('load only when configured: none for memory storage, better-sqlite3 alone for the default SQLite', async () => {
    expect(await driversLoadedBy({ OMECHAT_STORAGE: 'memory' })).toEqual([]);
    expect(await driversLoadedBy({})).toEqual(['better-sqlite3']);
  });
});
