import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TRPCClient } from '@trpc/client';
import { WebSocket } from 'ws';
import { createOmeChatClient, OmeChatError, toOmeChatError, type OmeChatClient } from '@omechat/sdk';
import type { Credentials, ErrorDetails, OmeEvent } from '@omechat/protocol';
import { loadConfig, type Config } from '../../server/src/config.js';
import { createCoreFromConfig } from '../../server/src/compose.js';
import type { Core } from '../../server/src/core/app.js';
import { createLogger } from '../../server/src/logger.js';
import { startServer, type RunningServer } from '../../server/src/transport/server.js';
import type { AppRouter } from '@omechat/server';

/** A real server on a real socket (port 0) over a real SQLite file in a temp dir. */
export interface TestServer {
  server: RunningServer;
  core: Core;
  config: Config;
  dataDir: string;
  /** Every log line the server wrote. */
  logs: string[];
  /** The server's clock: real time plus whatever a test moved it on (expiries without sleeping). */
  clock: TestClock;
  url: string;
  /** Stops this server and starts another on the same data directory (a restart). */
  restart(): Promise<TestServer>;
  close(): Promise<void>;
  /** Closes and deletes the data directory. */
  destroy(): Promise<void>;
}

/**
 * Every test client connects from loopback, one network: limits far above anything a test
 * does, so only tests that set their own limit (rate-limits.e2e.test.ts) meet one.
 */
export const TEST_RATE_LIMITS: Record<string, string> = {
  OMECHAT_RATE_REGISTER_PER_NETWORK: '1000000/3600',
  OMECHAT_RATE_LOGIN_FAILURES_PER_USERNAME: '1000000/900/900',
  OMECHAT_RATE_LOGIN_FAILURES_PER_NETWORK: '1000000/900/900',
  OMECHAT_RATE_MESSAGES_BURST: '1000000/5',
  OMECHAT_RATE_MESSAGES_SUSTAINED: '1000000/300',
  OMECHAT_RATE_MATCH_STARTS: '1000000/60',
  OMECHAT_RATE_CONNECTIONS_PER_NETWORK: '1000000/60',
  OMECHAT_RATE_ADMIN_FAILURES_PER_NETWORK: '1000000/900/900',
  OMECHAT_RATE_POW_CHALLENGES_PER_NETWORK: '1000000/60',
  // The proof-of-work stays on in tests (the SDK solves it), at a trivial difficulty.
  OMECHAT_POW_DIFFICULTY: '4',
  OMECHAT_POW_HOT_PER_NETWORK: '1000000/600',
  OMECHAT_POW_HOT_OVERALL: '1000000/600',
  OMECHAT_RATE_REPORTS_PER_USER: '1000000/3600',
  OMECHAT_RATE_SECRET_CHECKS_PER_NETWORK: '1000000/900',
  OMECHAT_SECRET_CHECKS_IN_FLIGHT_PER_NETWORK: '1000',
  OMECHAT_MAX_SOCKETS_PER_NETWORK: '100000',
  OMECHAT_MAX_SOCKETS: '100000',
  // issue 15: chatter and safety
  OMECHAT_RATE_TYPING: '1000000/60',
  OMECHAT_RATE_READ_RECEIPTS: '1000000/60',
  OMECHAT_RATE_BLOCKS: '1000000/3600',
  OMECHAT_RATE_KEY_BUNDLES: '1000000/3600',
};

/** Real time, moved forward on demand: a test makes a ban expire without waiting for it. */
export class TestClock {
  #offsetMs = 0;
  now(): number {
    return Date.now() + this.#offsetMs;
  }
  advance(ms: number): void {
    this.#offsetMs += ms;
  }
}

export async function startTestServer(
  env: Record<string, string> = {},
  dataDir = mkdtempSync(join(tmpdir(), 'omechat-test-')),
  logs: string[] = [],
  clock = new TestClock(),
): Promise<TestServer> {
  const config = loadConfig({
    OMECHAT_HOST: '127.0.0.1',
    OMECHAT_PORT: '0',
    OMECHAT_DATA_DIR: dataDir,
    OMECHAT_LOG_LEVEL: 'debug',
    OMECHAT_SHUTDOWN_GRACE_MS: '2000',
    ...TEST_RATE_LIMITS,
    ...env,
  });
  const log = createLogger(config.OMECHAT_LOG_LEVEL, { write: (line: string) => void logs.push(line) });
  const core = await createCoreFromConfig(config, log, clock);
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
    clock,
    url: server.url,
    close,
    async restart() {
      await close();
      // The same port, so clients reconnect to the URL they know.
      return startTestServer({ ...env, OMECHAT_PORT: String(server.port) }, dataDir, logs, clock);
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
    WebSocket: WebSocket,
    retryDelayMs: () => 50,
  });
}

/** How long a wait may take before it fails; vitest's test timeout (vitest.config.ts) is above it. */
export const WAIT_LIMIT_MS = 45_000;

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

/**
 * Waits until `predicate` holds, polling; fails with `message` after `timeoutMs`. The limit
 * only turns a hang into a readable failure: it is far above what anything takes even on a
 * loaded machine (WAIT_LIMIT_MS, below the test timeout), never a guess at how fast it is.
 */
export async function waitFor(predicate: () => boolean | Promise<boolean>, message = 'condition', timeoutMs = WAIT_LIMIT_MS) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An envelope as the SDK would build it; the server never looks inside. */
export function envelopeFor(to: string[], text: string) {
  return {
    v: 1 as const,
    parts: to.map((clientHash) => ({
      to: clientHash as never,
      header: Buffer.from(`hdr:${clientHash}`).toString('base64url'),
      ciphertext: Buffer.from(text).toString('base64url'),
    })),
  };
}

export function textOf(envelope: { parts: { ciphertext: string }[] }): string {
  return Buffer.from(envelope.parts[0]!.ciphertext, 'base64url').toString();
}

/** Collects a client's events, with helpers to wait for them. */
export function recorder(client: OmeChatClient) {
  const events: OmeEvent[] = [];
  const off = client.onRaw((e) => events.push(e));
  return {
    events,
    off,
    of<T extends OmeEvent['type']>(type: T) {
      return events.filter((e): e is Extract<OmeEvent, { type: T }> => e.type === type);
    },
    async next<T extends OmeEvent['type']>(type: T, count = 1, timeoutMs = WAIT_LIMIT_MS) {
      await waitFor(() => this.of(type).length >= count, `${count} ${type} event(s)`, timeoutMs);
      return this.of(type)[count - 1]!;
    },
    texts() {
      return this.of('message.new').map((e) => textOf(e.message.envelope));
    },
  };
}

/**
 * The real `omechat-server` binary in a child process, for tests that kill it hard or look
 * at its memory. SIGUSR2 writes a heap snapshot into `dataDir`.
 */
export async function spawnServer(dataDir: string, port = 0, logLevel = 'warn', env: Record<string, string> = {}) {
  const { spawn } = await import('node:child_process');
  const bin = join(import.meta.dirname, '../../server/bin/omechat-server.js');
  const child = spawn(process.execPath, ['--heapsnapshot-signal=SIGUSR2', bin, 'serve'], {
    cwd: dataDir,
    env: { ...process.env, ...TEST_RATE_LIMITS, OMECHAT_HOST: '127.0.0.1', OMECHAT_PORT: String(port), OMECHAT_DATA_DIR: dataDir, OMECHAT_LOG_LEVEL: logLevel, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening on (ws:\/\/\S+)/.exec(output);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
  return {
    url,
    pid: child.pid!,
    /** Everything the server printed (its logs). */
    output: () => output,
    /** Whether the process has ended (exited or killed by a signal). */
    exited: () => child.exitCode !== null || child.signalCode !== null,
    port: Number(new URL(url).port),
    /** SIGKILL: no shutdown hooks, no flushing. */
    kill: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
    stop: () => new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    }),
  };
}

/**
 * A WebSocket that connects from a given loopback address. All of 127.0.0.0/8 is loopback
 * on Linux, so 127.0.1.x is another /24 than 127.0.0.1: another network, without faking a
 * header.
 */
export function wsFrom(localAddress: string, headers: Record<string, string> = {}): typeof globalThis.WebSocket {
  class FromAddress extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { localAddress, headers });
    }
  }
  return FromAddress as unknown as typeof globalThis.WebSocket;
}

/** The SDK client with the internals its public type hides (the typed tRPC client under it). */
export type TestClient = ReturnType<typeof createOmeChatClient> & { internals: { trpc(): TRPCClient<AppRouter> } };

export function connectFrom(
  url: string,
  localAddress = '127.0.0.1',
  credentials?: Credentials | null,
  headers?: Record<string, string>,
): TestClient {
  return createOmeChatClient({ url, credentials: credentials ?? null, WebSocket: wsFrom(localAddress, headers), retryDelayMs: () => 50 }) as TestClient;
}

/** Registers and logs in one device from `localAddress`. */
export async function signUpFrom(url: string, localAddress = '127.0.0.1', age = 20, username = uniqueName()) {
  const client = connectFrom(url, localAddress);
  const { userHash, secret } = await client.account.register({ username, age });
  const creds = await client.account.login({ username, secret });
  const credentials = { clientHash: creds.clientHash, accessToken: creds.accessToken };
  return { client, userHash, secret, username, credentials };
}

export async function failure(promise: Promise<unknown>): Promise<{ code: string; details: ErrorDetails; message: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err instanceof OmeChatError ? err : toOmeChatError(err);
    return { code: e.code, details: e.details, message: e.message };
  }
  throw new Error('expected the call to fail');
}

export async function codeOf(promise: Promise<unknown>): Promise<string> {
  return (await failure(promise)).code;
}

/** Two users from the given addresses, matched, each recording events. */
export async function matchedPair(url: string, from: [string, string] = ['127.0.0.1', '127.0.0.1']) {
  const a = await signUpFrom(url, from[0]);
  const b = await signUpFrom(url, from[1]);
  const ea = recorder(a.client);
  const eb = recorder(b.client);
  // Both streams are live before the match, so neither can miss its match.found.
  await Promise.all([a.client.eventsLive(), b.client.eventsLive()]);
  await a.client.match.start({ tolerance: 0 });
  await b.client.match.start({ tolerance: 0 });
  const { chatId } = await ea.next('match.found');
  await eb.next('match.found');
  return { a, b, ea, eb, chatId };
}
