import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';

/**
 * The project's own server, started from its real binary on SQLite and port 0, must pass the
 * conformance suite, run as its real binary. A proxy that adds one undescribed field to the
 * server's replies must make the same suite fail, unless the server claims a newer minor.
 */

const bin = join(import.meta.dirname, '../bin/omechat-conformance.js');
const serverBin = join(import.meta.dirname, '../node_modules/@omechat/server/bin/omechat-server.js');

interface Run {
  code: number | null;
  out: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

const ADMIN_TOKEN = 'conformance-admin-token-0123456789abcdef';
const conformance = (url: string) => run(process.execPath, [bin, '--url', url, '--admin-token', ADMIN_TOKEN]);

let server: ChildProcess;
let url: string;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'omechat-conformance-'));
  server = spawn(process.execPath, [serverBin, 'serve'], {
    cwd: dataDir,
    env: {
      ...process.env,
      OMECHAT_HOST: '127.0.0.1',
      OMECHAT_PORT: '0',
      OMECHAT_STORAGE: 'sqlite',
      OMECHAT_DATA_DIR: dataDir,
      OMECHAT_LOG_LEVEL: 'warn',
      OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN,
      // Three full runs (direct and through proxies) from one address.
      OMECHAT_RATE_REGISTER_PER_NETWORK: '100/3600',
      // The proof-of-work stays on (the suite solves it), cheap enough for a test.
      OMECHAT_POW_DIFFICULTY: '40',
      OMECHAT_RATE_CONNECTIONS_PER_NETWORK: '1000/60',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  server.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  url = await new Promise<string>((resolve, reject) => {
    server.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening on (ws:\/\/\S+)/.exec(output);
      if (m) resolve(m[1]!);
    });
    server.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
});

afterAll(async () => {
  if (server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/** Adds an undescribed field to every message.send reply. */
const addLeakToAcks = (text: string) =>
  text.includes('"messageId"') && text.includes('"sentAt"') && !text.includes('"events"')
    ? text.replace('"messageId"', '"leak":"plaintext","messageId"')
    : text;

/** A proxy in front of the real server (HTTP and WebSocket) that rewrites the server's frames. */
async function startProxy(upstreamUrl: string, rewrite: (frame: string) => string) {
  const origin = upstreamUrl.replace(/\/trpc$/, '');
  const http = createServer((req, res) => {
    fetch(`${origin.replace(/^ws/, 'http')}${req.url}`).then(
      async (upstream) => {
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' });
        res.end(rewrite(await upstream.text()));
      },
      () => res.writeHead(502).end(),
    );
  });
  const wss = new WebSocketServer({ server: http });
  wss.on('connection', (client, req) => {
    const upstream = new WebSocket(`${origin}${req.url ?? '/trpc'}`);
    const early: string[] = [];
    client.on('message', (data: Buffer) => (upstream.readyState === WebSocket.OPEN ? upstream.send(data.toString()) : early.push(data.toString())));
    upstream.once('open', () => early.splice(0).forEach((frame) => upstream.send(frame)));
    upstream.on('message', (data: Buffer) => client.send(rewrite(data.toString())));
    const closeWith = (socket: WebSocket, code: number) => socket.close(code === 1005 || code === 1006 ? 1000 : code);
    upstream.once('close', (code) => closeWith(client, code));
    client.once('close', (code) => closeWith(upstream, code));
    upstream.on('error', () => client.terminate());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/trpc`,
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => wss.close(resolve));
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

describe('omechat-conformance', () => {
  it('passes against the real server on SQLite', async () => {
    const result = await conformance(url);
    expect(result.out).toMatch(/^conformance: \d+ passed, 0 failed, 0 skipped$/m);
    expect(result.out).not.toMatch(/^(FAIL|SKIP)/m);
    expect(result.code, result.out).toBe(0);
    for (const topic of ['register', 'login', 'clients.list', 'clients.revoke', 'tolerance', 'minor', 'exactly once', 'lastEventId', 'bad input', 'unauthorised', '4001', '4003', '4004', '1009']) {
      expect(result.out, topic).toMatch(new RegExp(`^PASS .*${topic.replace('.', '\\.')}`, 'm'));
    }
  });

  it('fails, naming the check and the schema, when the server sends a field the contract does not describe', async () => {
    const proxy = await startProxy(url, addLeakToAcks);
    try {
      const result = await conformance(proxy.url);
      expect(result.code, result.out).toBe(1);
      expect(result.out).toMatch(/^FAIL {2}message\.send: /m);
      expect(result.out).toMatch(/schema: message\.send output does not match its schema/);
      expect(result.out).toMatch(/^conformance: \d+ passed, [1-9]\d* failed, 0 skipped$/m);
    } finally {
      await proxy.close();
    }
  });

  it('lets a server of a newer minor version add fields, and says so', async () => {
    const newerMinor = (text: string) => addLeakToAcks(text.replace(/"protocol":"(\d+)\.\d+"/, '"protocol":"$1.99"'));
    const proxy = await startProxy(url, newerMinor);
    try {
      const result = await conformance(proxy.url);
      expect(result.out).toMatch(/note: the server's protocol \d+\.99 is newer than this suite's/);
      expect(result.out).toMatch(/^conformance: \d+ passed, 0 failed, 0 skipped$/m);
      expect(result.code, result.out).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it('refuses to run without a ws:// URL', async () => {
    const result = await run(process.execPath, [bin]);
    expect(result.code).toBe(64);
    expect(result.out).toMatch(/Usage: omechat-conformance --url/);
  });
});
