import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const serverBin = join(import.meta.dirname, '../node_modules/@omechat/server/bin/omechat-server.js');

/**
 * The server binary with its DEFAULT settings (proof-of-work and rate limits as shipped):
 * only where it listens, where it keeps its data, and no page are set.
 */
export async function startDefaultServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'omechat-first-session-'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OMECHAT_')));
  const child = spawn(process.execPath, [serverBin, 'serve'], {
    cwd: dataDir,
    env: { ...env, OMECHAT_HOST: '127.0.0.1', OMECHAT_PORT: '0', OMECHAT_DATA_DIR: dataDir, OMECHAT_LOG_LEVEL: 'warn', OMECHAT_WEB: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (ws:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  return {
    url,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
