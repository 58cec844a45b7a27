import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestServer, type TestServer } from '@omechat/server/testing';
import { createOmeChatClient, type ClientEvent, type OmeChatClient } from '../src/index.js';

/**
 * The SDK as someone outside this repository gets it: packed tarballs installed with npm into
 * a scratch project, the examples in examples/ type-checked strictly, the Node bot run
 * against a real server, and the browser example built with Vite.
 */
const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../../..');
const tsc = join(repo, 'node_modules/typescript/bin/tsc');
const vite = join(repo, 'packages/sdk/node_modules/vite/bin/vite.js');

let scratch: string;
let server: TestServer;
let bot: ChildProcess | undefined;
const clients: OmeChatClient[] = [];
const tarballs: Record<string, string> = {};

async function pack(dir: string) {
  const { stdout } = await run('npx', ['-y', 'pnpm@10.34.9', 'pack', '--pack-destination', scratch], { cwd: join(repo, dir), maxBuffer: 16 << 20 });
  const file = stdout.trim().split('\n').at(-1)!.trim();
  return file.startsWith('/') ? file : join(scratch, file);
}

async function manifestOf(tarball: string) {
  const { stdout } = await run('tar', ['-xOzf', tarball, 'package/package.json']);
  return JSON.parse(stdout) as { dependencies: Record<string, string>; exports: Record<string, { default: string }> };
}

/** One scratch project holds both examples, installed once from the tarballs. */
let installed: Promise<string> | undefined;
function project() {
  installed ??= (async () => {
    const dir = join(scratch, 'app');
    await cp(join(repo, 'examples'), dir, { recursive: true, filter: (path) => !path.endsWith('package.json') });
    // A fresh manifest: the examples' own ones name @omechat/sdk from the registry.
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }));
    const extra = ['ws@^8.18.0', '@types/ws@^8.18.0', '@types/node@^20.19.0'];
    await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarballs.protocol!, tarballs.sdk!, ...extra], { cwd: dir, maxBuffer: 16 << 20 });
    return dir;
  })();
  return installed;
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'omechat-consumer-'));
  tarballs.protocol = await pack('packages/protocol');
  tarballs.sdk = await pack('packages/sdk');
  server = await startTestServer({}, join(scratch, 'server-data'));
}, 240_000);

afterAll(async () => {
  bot?.kill();
  await Promise.all(clients.map((c) => c.close()));
  await server?.close();
  await rm(scratch, { recursive: true, force: true });
});

// npm install into the scratch project and two strict tsc runs take minutes on a busy machine.
describe('the packed SDK in a project outside the workspace', { timeout: 300_000 }, () => {
  it('packs to manifests that name real versions and point at built JavaScript', async () => {
    for (const tarball of Object.values(tarballs)) {
      const manifest = await manifestOf(tarball);
      expect(JSON.stringify(manifest)).not.toMatch(/workspace:|catalog:|\.\/src\//);
      expect(manifest.exports['.']!.default).toBe('./dist/index.js');
    }
    expect((await manifestOf(tarballs.sdk!)).dependencies['@omechat/protocol']).toBe('0.1.0');
    // The chat-state reducer is its own entry point, built and typed, for any UI to render from.
    expect((await manifestOf(tarballs.sdk!)).exports['./chat-state']!.default).toBe('./dist/chat-state.js');
    const { stdout: files } = await run('tar', ['-tzf', tarballs.sdk!]);
    expect(files).toContain('package/dist/chat-state.js');
    expect(files).toContain('package/dist/chat-state.d.ts');
  });

  it('type-checks the Node example strictly, and its bot chats end to end with an SDK client', async () => {
    const dir = join(await project(), 'node');
    await run('node', [tsc, '-p', dir]);

    const name = `echo_bot_${process.pid}`;
    bot = spawn('node', [join(dir, 'dist/bot.js')], {
      cwd: dir,
      env: { ...process.env, OMECHAT_URL: server.url, BOT_NAME: name, BOT_DIR: join(dir, 'state') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let stderr = '';
    bot.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const waiting = new Promise<void>((ok, fail) => {
      createInterface({ input: bot!.stdout! }).on('line', (line) => {
        lines.push(line);
        if (line.includes('is waiting for a stranger')) ok();
      });
      bot!.once('exit', (code) => fail(new Error(`the bot exited (${code}): ${stderr}`)));
    });
    await waiting;

    const me = createOmeChatClient({ url: server.url, WebSocket, retryDelayMs: () => 50 });
    clients.push(me);
    const got: ClientEvent[] = [];
    const arrived = new Promise<void>((ok) =>
      me.on((event) => {
        got.push(event);
        if (event.type === 'message' && !event.own) ok();
      }),
    );
    const { secret } = await me.account.register({ username: `bot_fan_${process.pid}`, age: 31 });
    await me.account.login({ username: `bot_fan_${process.pid}`, secret });
    await me.eventsLive();
    await me.match.start({ tolerance: 5, interests: ['bots'] });
    const found = await new Promise<Extract<ClientEvent, { type: 'match.found' }>>((ok) => {
      const check = () => {
        const event = got.find((e) => e.type === 'match.found');
        if (event?.type === 'match.found') ok(event);
        else setTimeout(check, 10);
      };
      check();
    });
    expect(found.peer.username).toBe(name);
    await me.chat.send(found.chatId, 'hello bot');
    await arrived;
    expect(got.filter((e) => e.type === 'message' && !e.own).map((e) => (e.type === 'message' ? e.text : ''))).toEqual(['echo: hello bot']);
    expect(lines).toContain('< hello bot');
    // The bot's private keys sit in a file only its owner can read.
    expect((await stat(join(dir, 'state', `${name}.keys.json`))).mode & 0o777).toBe(0o600);
  });

  it('type-checks the browser example and builds it with Vite, without Node built-ins or the Node worker', async () => {
    const dir = join(await project(), 'browser');
    await run('node', [tsc, '-p', dir]);
    await run('node', [vite, 'build', dir, '--logLevel', 'error'], { cwd: dir });
    const assets = await readdir(join(dir, 'dist/assets'));
    const js = assets.filter((f) => f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(0);
    const sources = await Promise.all(js.map(async (f) => ({ f, text: await readFile(join(dir, 'dist/assets', f), 'utf8') })));
    const bundle = sources.map(({ text }) => text).join('\n');
    expect(await readFile(join(dir, 'dist/index.html'), 'utf8')).toMatch(/assets\/.+\.js/);
    expect(bundle).toContain('/trpc');
    expect(bundle).not.toMatch(/from\s*["']node:/);
    // The `browser` condition of `#pow` keeps the Node proof-of-work solver out: no
    // node-worker.js, no stub for node:worker_threads; the Web Worker is there.
    expect(sources.filter(({ f, text }) => f.includes('node-worker') || text.includes('worker_threads')).map(({ f }) => f)).toEqual([]);
    expect(js.some((f) => f.startsWith('web-worker'))).toBe(true);
  });
});
