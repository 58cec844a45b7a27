import { join } from 'node:path';
import type { TRPCClient } from '@trpc/client';
import { WebSocket } from 'ws';
import { createOmeChatClient, OmeChatError, toOmeChatError, type OmeChatClient } from '@omechat/sdk';
import type { Credentials, ErrorDetails, OmeEvent } from '@omechat/protocol';
import type { AppRouter } from '@omechat/server';
import { TEST_RATE_LIMITS } from '@omechat/server/testing';

export { startTestServer, TEST_RATE_LIMITS, type TestServer } from '@omechat/server/testing';

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
