import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { initTRPC } from '@trpc/server';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { TrpcWsHandler, type WsLimits } from './trpc-ws.js';

/**
 * The adapter's subscription teardown against tRPC's own behaviour: on `subscription.stop`
 * the iterator's `return()` is called at once and `stopped` is answered at once, even while
 * the iterator's `next()` is still waiting on something other than the stop signal.
 */
const t = initTRPC.create();
const LIMITS: WsLimits = { credentialsTimeoutMs: 5000, maxBatch: 50, maxCallsInFlight: 64, maxBufferedBytes: 1 << 20, maxSubscriptions: 1 };

let close: () => Promise<void> = async () => undefined;
afterEach(async () => close());

async function serve(router: ReturnType<typeof t.router>) {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  const handler = new TrpcWsHandler(wss, {
    router,
    createContext: async () => ({}),
    keepAlive: { pingMs: 60_000, pongWaitMs: 60_000 },
    limits: LIMITS,
    onError: () => undefined,
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  close = async () => {
    handler.close();
    for (const ws of wss.clients) ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
    await new Promise((resolve) => http.close(resolve));
  };
  const ws = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
  const frames: { id?: unknown; result?: { type: string } }[] = [];
  const waiting: (() => void)[] = [];
  ws.on('message', (data: Buffer) => {
    frames.push(JSON.parse(data.toString()));
    waiting.splice(0).forEach((wake) => wake());
  });
  await new Promise((resolve) => ws.once('open', resolve));
  const until = async (check: () => boolean) => {
    while (!check()) await new Promise<void>((wake) => waiting.push(wake));
  };
  return { ws, frames, until };
}

describe('TrpcWsHandler subscriptions', () => {
  it('on subscription.stop, answer stopped and call return() at once, though next() never settles', async () => {
    const calls = { returned: 0 };
    const stuck: AsyncIterable<number> = {
      [Symbol.asyncIterator]: () => ({
        next: () => new Promise<IteratorResult<number>>(() => undefined),
        return: async () => {
          calls.returned++;
          return { done: true, value: undefined };
        },
      }),
    };
    const { ws, frames, until } = await serve(t.router({ stuck: t.procedure.subscription(() => stuck) }));
    ws.send(JSON.stringify({ id: 1, method: 'subscription', params: { path: 'stuck' } }));
    await until(() => frames.some((f) => f.result?.type === 'started'));
    ws.send(JSON.stringify({ id: 1, method: 'subscription.stop' }));
    await until(() => frames.some((f) => f.result?.type === 'stopped'));
    expect(calls.returned).toBe(1);
    // Its place is free at once: a new subscription on the same connection starts.
    ws.send(JSON.stringify({ id: 2, method: 'subscription', params: { path: 'stuck' } }));
    await until(() => frames.some((f) => f.id === 2 && f.result?.type === 'started'));
  });

  it('a parse error answers with the parser’s own message, as tRPC does, then closes (4002)', async () => {
    const { ws, frames, until } = await serve(t.router({}));
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    ws.send('{nope');
    await until(() => frames.length === 1);
    const message = (frames[0] as { error?: { message?: string } }).error?.message;
    let expected = '';
    try {
      JSON.parse('{nope');
    } catch (err) {
      expected = (err as Error).message;
    }
    expect(message).toBe(expected);
    expect(await closed).toBe(4002);
  });
});
