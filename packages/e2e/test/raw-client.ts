import { expect } from 'vitest';
import { WebSocket } from 'ws';
import { createTRPCClient, createWSClient, wsLink, TRPCClientError } from '@trpc/client';
import type { AppRouter } from '@omechat/server';

/** A tRPC client without types, for sending what the types would forbid. */
export type Untyped = Record<string, Record<string, Record<'query' | 'mutate', (input?: unknown) => Promise<unknown>>>>;

export function rawClient(url: string, connectionParams: Record<string, string> | null) {
  const ws = createWSClient({ url, WebSocket: WebSocket as never, connectionParams, retryDelayMs: () => 50 });
  const client = createTRPCClient<AppRouter>({ links: [wsLink({ client: ws })] }) as unknown as Untyped;
  return { client, close: () => ws.close() };
}

/** Calls `ns.name` (or `ns.sub.name`) by its path. */
export function call(client: Untyped, path: string, kind: 'mutate' | 'query', input: unknown): Promise<unknown> {
  const parts = path.split('.');
  let node: unknown = client;
  for (const p of parts) node = (node as Record<string, unknown>)[p];
  return (node as Record<'query' | 'mutate', (input: unknown) => Promise<unknown>>)[kind](input);
}

/** The typed code of a tRPC error, checking that nothing internal leaked with it. */
export function codeOfError(err: unknown): string {
  expect(err).toBeInstanceOf(TRPCClientError);
  const e = err as TRPCClientError<AppRouter>;
  expect(e.data?.omechatCode, e.message).toBeTypeOf('string');
  expect(JSON.stringify(e.shape)).not.toMatch(/at .*\.ts:\d+|node_modules|SQLITE|stack/i);
  return e.data!.omechatCode;
}

export async function errorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return codeOfError(err);
  }
  throw new Error('expected the call to fail');
}
