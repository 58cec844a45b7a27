import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import type { OmeChatClient } from '@omechat/sdk';
import type { AppRouter } from '@omechat/server';
import { envelopeFor, wsFrom, type TestClient } from './harness.js';
export { codeOf, connectFrom, failure, matchedPair, signUpFrom, wsFrom, type TestClient } from './harness.js';

/** Helpers for the safety, ban and rate-limit tests. */

export const ADMIN_TOKEN = 'test-admin-token-'.padEnd(48, 'x');

/** The typed tRPC client under an SDK client, with errors as OmeChatError. */
export function rpc(client: OmeChatClient) {
  return (client as TestClient).internals.trpc();
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

export const envelopeTo = (clientHash: string, text: string) => envelopeFor([clientHash], text);
