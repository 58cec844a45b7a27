import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_RATE_LIMITS } from './harness.js';

/** The real `omechat-server serve`, as an operator runs it. */
const bin = join(import.meta.dirname, '../../server/bin/omechat-server.js');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function serve(env: Record<string, string>) {
  const dataDir = mkdtempSync(join(tmpdir(), 'omechat-serve-'));
  dirs.push(dataDir);
  const child = spawn(process.execPath, [bin, 'serve'], {
    cwd: dataDir,
    env: { ...process.env, ...TEST_RATE_LIMITS, OMECHAT_PORT: '0', OMECHAT_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  let stdout = '';
  const startLine = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('OmeChat listening'));
      if (line) resolve(line);
    });
    void exited.then((code) => reject(new Error(`server exited with ${code}: ${stdout}`)));
  });
  return { child, exited, startLine };
}

describe('omechat-server serve', () => {
  it('prints the address it really bound and a URL that works', async () => {
    const server = serve({ OMECHAT_HOST: '0.0.0.0' });
    const line = await server.startLine;
    const [, url, bound] = /listening on (ws:\/\/\S+) \(bound to ([^;]+);/.exec(line) ?? [];
    expect(bound).toMatch(/^0\.0\.0\.0:\d+ \(all IPv4 interfaces\)$/);
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/trpc$/);
    const health = await fetch(url!.replace('ws:', 'http:').replace('/trpc', '/healthz'));
    expect(health.status).toBe(200);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('exits on SIGINT when whatever read its output has gone (`serve | cat`, then Ctrl-C)', async () => {
    const server = serve({ OMECHAT_HOST: '127.0.0.1', OMECHAT_LOG_LEVEL: 'debug' });
    await server.startLine;
    // The reader of the pipe dies first, as `cat` does on Ctrl-C: every later log line meets EPIPE.
    server.child.stdout.destroy();
    server.child.kill('SIGINT');
    expect(await server.exited).toBe(0);
  });

  it('refuses a bad configuration with exit code 78 and a line naming the variable, the problem and an example', async () => {
    const server = serve({ OMECHAT_PORT: 'abc' });
    server.startLine.catch(() => undefined);
    let stderr = '';
    server.child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await server.exited).toBe(78);
    expect(stderr).toContain('OMECHAT_PORT="abc": is not a number; for example OMECHAT_PORT=8080');
  });
});
