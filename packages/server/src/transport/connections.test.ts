import { queryObjects } from 'node:v8';
import { afterEach, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestServer, type TestServer } from '../testing/index.js';
import { SocketConnection } from './connections.js';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.destroy();
});

const live = () => queryObjects(SocketConnection, { format: 'count' });

/** A socket that never signs in (as one used only to register): open, one call answered, closed. */
async function anonymousVisit(url: string): Promise<void> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const answered = new Promise((resolve) => ws.once('message', resolve));
  ws.send(JSON.stringify({ id: 1, method: 'query', params: { path: 'account.challenge' } }));
  await answered; // its connection (context) exists now
  const closed = new Promise((resolve) => ws.once('close', resolve));
  ws.close();
  await closed;
}

/** A socket that goes as soon as it is open, while the server may still be making its connection. */
async function hastyVisit(url: string): Promise<void> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const closed = new Promise((resolve) => ws.once('close', resolve));
  ws.terminate();
  await closed;
}

it('forgets a connection that closed without ever signing in, or before it was ready', async () => {
  t = await startTestServer();
  for (let i = 0; i < 20; i++) await anonymousVisit(t.url);
  await Promise.all(Array.from({ length: 20 }, () => hastyVisit(t!.url)));
  // queryObjects runs a full GC first: only what something still holds is counted. The server
  // sees each close a moment after the client does, so wait for the count to fall.
  for (const deadline = Date.now() + 30_000; live() > 0; ) {
    if (Date.now() > deadline) throw new Error(`${live()} closed connections are still held`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(live()).toBe(0);
});
