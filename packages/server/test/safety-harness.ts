import { WebSocket } from 'ws';
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import { createOmeChatClient, OmeChatError, toOmeChatError, type OmeChatClient } from '@omechat/sdk';
import type { Credentials, ErrorDetails } from '@omechat/protocol';
import type { AppRouter } from '../src/index.js';
import { recorder, uniqueName, waitFor } from './harness.js';

/** Helpers for the safety, ban and rate-limit tests. */

export const ADMIN_TOKEN = 'test-admin-token-'.padEnd(48, 'x');

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

export type TestClient = ReturnType<typeof createOmeChatClient>;

export function connectFrom(
  url: string,
  localAddress = '127.0.0.1',
  credentials?: Credentials | null,
  headers?: Record<string, string>,
): TestClient {
  return createOmeChatClient({ url, credentials: credentials ?? null, WebSocket: wsFrom(localAddress, headers), retryDelayMs: () => 50 });
}

/** Registers and logs in one device from `localAddress`. */
export async function signUpFrom(url: string, localAddress = '127.0.0.1', age = 20, username = uniqueName()) {
  const client = connectFrom(url, localAddress);
  const { userHash, secret } = await client.account.register({ username, age });
  const creds = await client.account.login({ username, secret });
  const credentials = { clientHash: creds.clientHash, accessToken: creds.accessToken };
  return { client, userHash, secret, username, credentials };
}

/** The typed tRPC client under an SDK client, with errors as OmeChatError. */
export function rpc(client: OmeChatClient) {
  return (client as TestClient).internals.trpc();
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

/** A moderator tool's connection: connectionParams carry the admin token, nothing else. */
export function adminClient(url: string, params: Record<string, string> | null = { adminToken: ADMIN_TOKEN, moderator: 'mod-ann' }, localAddress = '127.0.0.1') {
  const ws = createWSClient({ url, WebSocket: wsFrom(localAddress), connectionParams: params, retryDelayMs: () => 50 });
  const trpc = createTRPCClient<AppRouter>({ links: [wsLink({ client: ws })] });
  return { trpc, close: () => ws.close() };
}

/** Resolves with the close code once the client's socket has been closed by the server. */
export function closeCodeOf(client: OmeChatClient): Promise<string | null> {
  return new Promise((resolve) => {
    if (client.state === 'closed') resolve(client.closedReason);
    const off = client.onStateChange((state, reason) => {
      if (state === 'closed') {
        off();
        resolve(reason);
      }
    });
  });
}

/** Two users from the given addresses, matched, each recording events. */
export async function matchedPair(url: string, from: [string, string] = ['127.0.0.1', '127.0.0.1']) {
  const a = await signUpFrom(url, from[0]);
  const b = await signUpFrom(url, from[1]);
  const ea = recorder(a.client);
  const eb = recorder(b.client);
  await waitFor(() => a.client.state === 'connected' && b.client.state === 'connected', 'connections');
  await new Promise((r) => setTimeout(r, 50)); // streams subscribed
  await a.client.match.start({ tolerance: 0 });
  await b.client.match.start({ tolerance: 0 });
  const { chatId } = await ea.next('match.found');
  await eb.next('match.found');
  return { a, b, ea, eb, chatId };
}

export function envelopeTo(clientHash: string, text: string) {
  return {
    v: 1 as const,
    parts: [{ to: clientHash as never, header: 'aGVhZGVy', ciphertext: Buffer.from(text).toString('base64url') }],
  };
}
