import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { solvePow } from '@omechat/sdk';
import type { PowChallenge } from '@omechat/protocol';
import { settingDefaults } from '@omechat/server/testing';
import { uniqueName, waitFor } from './harness.js';
import { rawClient } from './raw-client.js';

/** The real `omechat-server` binary as an operator meets it: a taken port, --help, OMECHAT_DEV. */
const bin = join(import.meta.dirname, '../../server/bin/omechat-server.js');
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The binary with only the given settings (none of the test suite's relaxed limits). */
function run(args: string[], env: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'omechat-operator-'));
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OMECHAT_')));
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: dataDir,
    env: { ...clean, OMECHAT_HOST: '127.0.0.1', OMECHAT_PORT: '0', OMECHAT_DATA_DIR: dataDir, OMECHAT_WEB: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });
  const startLine = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const line = stdout.split('\n').find((l) => l.startsWith('OmeChat listening'));
      if (line) resolve(line);
    });
    void exited.then((code) => reject(new Error(`server exited with ${code}: ${stdout}${stderr}`)));
  });
  startLine.catch(() => undefined);
  return { exited, startLine, stdout: () => stdout, stderr: () => stderr };
}

describe('omechat-server, as an operator meets it', () => {
  it('exits non-zero at once, with one line naming OMECHAT_PORT, when the port is taken', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => taken.close(resolve)));
    const port = (taken.address() as { port: number }).port;

    const server = run(['serve'], { OMECHAT_PORT: String(port), OMECHAT_LOG_LEVEL: 'info' });
    const code = await server.exited;
    expect(code).not.toBe(0);
    expect(typeof code).toBe('number');
    const lines = server.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect(lines[0]).toContain('OMECHAT_PORT');
    // No stack trace anywhere, not even in the JSON log on stdout.
    expect(server.stdout() + server.stderr()).not.toMatch(/EADDRINUSE|\n\s+at /);
  });

  it('--help prints every setting with its default and meaning, and exits 0', async () => {
    const help = run(['--help']);
    expect(await help.exited).toBe(0);
    const text = help.stdout();
    expect(text).toContain('omechat-server import-seed');
    const rows = text.split('\n');
    for (const { name, fallback } of settingDefaults()) {
      const row = rows.find((r) => r.startsWith(`${name} `));
      expect(row, name).toBeDefined();
      if (fallback) expect(row!.split(/\s{2,}/)[1], name).toBe(fallback);
      // A meaning after the default.
      expect(row!.split(/\s{2,}/).length, name).toBeGreaterThanOrEqual(3);
    }
    expect(rows.find((r) => r.startsWith('OMECHAT_PORT '))).toMatch(/8080\s+.*0 picks a free one/);
  });

  it('OMECHAT_DEV=1 announces itself and lets one network register more than the production limit, at the quiet difficulty', async () => {
    const server = run(['serve'], { OMECHAT_DEV: '1', OMECHAT_STORAGE: 'memory', OMECHAT_LOG_LEVEL: 'warn' });
    const line = await server.startLine;
    expect(line).toMatch(/DEVELOPMENT MODE \(OMECHAT_DEV=1\)/);
    const url = /listening on (ws:\/\/\S+)/.exec(line)![1]!;
    const { client, close } = rawClient(url, null);
    cleanups.push(close);
    // The production defaults refuse the 11th sign-up from one network in an hour, and make
    // the 4th onwards 8 times harder.
    for (let i = 1; i <= 12; i++) {
      const challenge = (await client.account!.challenge!.query()) as PowChallenge;
      expect(challenge.parameters.data?.max, `sign-up ${i}`).toBe(10);
      const pow = { challenge, solution: await solvePow(challenge) };
      expect(await client.account!.register!.mutate({ username: uniqueName('dev'), age: 20, pow })).toHaveProperty('userHash');
    }
  });

  it('serves the page at its own address: built on the first start (a self-reloading 503 meanwhile), then with its content type', async () => {
    const pageDir = join(mkdtempSync(join(tmpdir(), 'omechat-page-')), 'page');
    cleanups.push(() => rmSync(dirname(pageDir), { recursive: true, force: true }));
    const server = run(['serve'], { OMECHAT_WEB: 'on', OMECHAT_WEB_DIR: pageDir, OMECHAT_STORAGE: 'memory', OMECHAT_LOG_LEVEL: 'warn' });
    const line = await server.startLine;
    const home = /listening on (ws:\/\/\S+)/.exec(line)![1]!.replace(/^ws/, 'http').replace(/\/trpc$/, '/');
    // The second line says where to open it.
    await waitFor(() => server.stdout().includes(`The chat page: ${home}`), 'the page line');
    const first = await fetch(home);
    if (first.status === 503) expect(await first.text()).toContain('http-equiv="refresh"');
    else expect(first.status).toBe(200);
    await waitFor(async () => (await fetch(home)).status === 200, 'the page to be built', 120_000);
    const page = await fetch(home);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('<title>OmeChat</title>');
  }, 150_000);

  it('OMECHAT_WEB=off serves no page', async () => {
    const server = run(['serve'], { OMECHAT_WEB: 'off', OMECHAT_STORAGE: 'memory', OMECHAT_LOG_LEVEL: 'warn' });
    const home = /listening on (ws:\/\/\S+)/.exec(await server.startLine)![1]!.replace(/^ws/, 'http').replace(/\/trpc$/, '/');
    expect((await fetch(home)).status).toBe(404);
    expect(server.stdout()).not.toContain('The chat page');
  });

  it('without OMECHAT_DEV the startup line says nothing of development mode', async () => {
    const server = run(['serve'], { OMECHAT_STORAGE: 'memory', OMECHAT_LOG_LEVEL: 'warn' });
    expect(await server.startLine).not.toMatch(/DEVELOPMENT/);
  });
});
