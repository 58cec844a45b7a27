import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import type { Pool } from 'pg';

/**
 * Real services a test can break without touching the machine's shared ones: a Redis server
 * of its own, a TCP proxy in front of the shared PostgreSQL, a schema of its own in it.
 */

/** The shared PostgreSQL; .ci/run starts it. */
export const TEST_POSTGRES_URL = process.env.OMECHAT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * A new, empty schema in the shared PostgreSQL, so tests (and parallel runs against one
 * database) never see each other's rows. An unreachable PostgreSQL fails the test, never skips it.
 */
export async function freshSchema(label = 'test') {
  const { Pool } = await import('pg');
  const admin: Pool = new Pool({ connectionString: TEST_POSTGRES_URL, max: 1 });
  admin.on('error', () => undefined);
  const name = `omechat_${label}_${randomBytes(6).toString('hex')}`;
  try {
    await admin.query(`CREATE SCHEMA ${name}`);
  } catch (err) {
    await admin.end();
    throw new Error(`PostgreSQL at ${new URL(TEST_POSTGRES_URL).host} is unreachable (set OMECHAT_TEST_POSTGRES_URL): ${String(err)}`, { cause: err });
  }
  // libpq's `options` puts every pooled connection in this schema.
  const url = new URL(TEST_POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${name}`);
  return {
    name,
    /** For OMECHAT_DATABASE_URL: every connection works in this schema. */
    url: url.href,
    /** One connection outside the schema (qualify table names with `name`). */
    admin,
    async drop() {
      await admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      await admin.end();
    },
  };
}
export type TestSchema = Awaited<ReturnType<typeof freshSchema>>;

/** A port that was free a moment ago (the kernel's pick for port 0). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A `redis-server` of the test's own on a free port; stop() and start() again on that port. */
export async function startRedisServer() {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async () => {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
    });
  };
  const stop = async () => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL'); // an outage, not a shutdown
    });
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, start, stop };
}

export type RedisServer = Awaited<ReturnType<typeof startRedisServer>>;

/**
 * A TCP proxy to `target` on a port of its own. `down()` resets every connection through
 * it and refuses new ones (nothing listens on the port); `up()` accepts them again.
 */
export async function startTcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  const up = async () => {
    if (server) return;
    const listening = createServer((client) => {
      const upstream = new Socket().connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => listening.listen(port, '127.0.0.1', resolve));
    port = (listening.address() as AddressInfo).port;
    server = listening;
  };
  const down = async () => {
    const listening = server;
    server = null;
    const closed = listening ? new Promise<void>((resolve) => listening.close(() => resolve())) : Promise.resolve();
    for (const socket of sockets) socket.resetAndDestroy();
    sockets.clear();
    await closed;
  };
  await up();
  return {
    get port() {
      return port;
    },
    up,
    down,
    close: down,
  };
}

export type TcpProxy = Awaited<ReturnType<typeof startTcpProxy>>;

/**
 * nginx from the distribution, running the repository's deploy/nginx.conf in a prefix of
 * its own (never the system service), balancing over `upstreams` (ports on 127.0.0.1).
 */
export async function startNginx(upstreams: number[]) {
  const prefix = mkdtempSync(join(tmpdir(), 'omechat-nginx-'));
  mkdirSync(join(prefix, 'tmp'));
  copyFileSync(join(import.meta.dirname, '../../../../deploy/nginx.conf'), join(prefix, 'nginx.conf'));
  writeFileSync(join(prefix, 'omechat-upstreams.conf'), upstreams.map((port) => `server 127.0.0.1:${port};\n`).join(''));
  const port = await freePort();
  writeFileSync(join(prefix, 'omechat-listen.conf'), `listen 127.0.0.1:${port};\n`);
  const proc = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  proc.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`nginx exited with ${code}: ${output}`))));
  exited.catch(() => undefined);
  // Up once it accepts a connection on its port.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const accepted = await Promise.race([
      new Promise<boolean>((resolve) => {
        const socket = new Socket().connect(port, '127.0.0.1');
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      }),
      exited,
    ]);
    if (accepted) break;
    if (Date.now() > deadline) throw new Error(`nginx did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `ws://127.0.0.1:${port}/trpc`,
    http: `http://127.0.0.1:${port}`,
    output: () => output,
    async stop() {
      if (proc.exitCode === null) {
        await new Promise<void>((resolve) => {
          proc.once('exit', () => resolve());
          proc.kill('SIGTERM');
        });
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
