import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { createOmeChatClient, type OmeChatClient } from '@omechat/sdk';
import type { Credentials } from '@omechat/protocol';
import { loadConfig, type Config } from '../src/config.js';
import { createCoreFromConfig } from '../src/compose.js';
import type { Core } from '../src/core/app.js';
import { createLogger } from '../src/logger.js';
import { startServer, type RunningServer } from '../src/transport/server.js';

/** A real server on a real socket (port 0) over a real SQLite file in a temp dir. */
export interface TestServer {
  server: RunningServer;
  core: Core;
  config: Config;
  dataDir: string;
  /** Every log line the server wrote. */
  logs: string[];
  url: string;
  /** Stops this server and starts another on the same data directory (a restart). */
  restart(): Promise<TestServer>;
  close(): Promise<void>;
  /** Closes and deletes the data directory. */
  destroy(): Promise<void>;
}

export async function startTestServer(
  env: Record<string, string> = {},
  dataDir = mkdtempSync(join(tmpdir(), 'omechat-test-')),
  logs: string[] = [],
): Promise<TestServer> {
  const config = loadConfig({
    OMECHAT_HOST: '127.0.0.1',
    OMECHAT_PORT: '0',
    OMECHAT_DATA_DIR: dataDir,
    OMECHAT_LOG_LEVEL: 'debug',
    OMECHAT_SHUTDOWN_GRACE_MS: '2000',
    ...env,
  });
  const log = createLogger(config.OMECHAT_LOG_LEVEL, { write: (line: string) => void logs.push(line) });
  const core = createCoreFromConfig(config, log);
  const server = await startServer({ config, core, log });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
  };
  return {
    server,
    core,
    config,
    dataDir,
    logs,
    url: server.url,
    close,
    async restart() {
      await close();
      // The same port, so clients reconnect to the URL they know.
      return startTestServer({ ...env, OMECHAT_PORT: String(server.port) }, dataDir, logs);
    },
    async destroy() {
      await close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An SDK client over Node's `ws`, with fast reconnects for tests. */
export function connect(url: string, credentials?: Credentials | null): OmeChatClient {
  return createOmeChatClient({
    url,
    credentials: credentials ?? null,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    retryDelayMs: () => 50,
  });
}

let counter = 0;
export function uniqueName(prefix = 'user'): string {
  counter++;
  return `${prefix}_${process.pid}_${counter}`;
}

/** Registers and logs in one device; returns the signed-in client and its secret. */
export async function signUp(url: string, age = 20, username = uniqueName()) {
  const client = connect(url);
  const { userHash, secret } = await client.account.register({ username, age });
  const creds = await client.account.login({ username, secret });
  return { client, userHash, secret, username, credentials: { clientHash: creds.clientHash, accessToken: creds.accessToken } };
}

/** Waits until `predicate` holds, polling; fails with `message` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, message = 'condition', timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
