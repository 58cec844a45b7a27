import { afterEach, describe, expect, it } from 'vitest';
import { matchedPair, startTestServer, waitFor, type TestServer } from './harness.js';

/**
 * The limits that stop hostile clients (hostile/) must never meet an honest one. Here: an app
 * that fires many sends while its server is away. A reconnect sends every queued call in one
 * frame, and the server closes a socket whose frame batches more than OMECHAT_MAX_BATCH (50):
 * the SDK keeps at most 32 calls in flight, so the frame fits and everything arrives.
 */
let t: TestServer;
afterEach(async () => {
  await t.destroy();
});

describe('limits and honest clients', () => {
  it('100 messages sent while the server restarts all arrive, once each', async () => {
    t = await startTestServer();
    const { a, b, chatId } = await matchedPair(t.url);
    await Promise.all([a.client.encryptionReady(), b.client.encryptionReady()]);
    const received: string[] = [];
    b.client.on((e) => e.type === 'message' && received.push(e.text));
    await a.client.chat.send(chatId, 'before');
    await waitFor(() => received.length === 1, 'the first message');

    await t.close();
    await waitFor(() => a.client.state !== 'connected', 'the sender to notice');
    const sends = Array.from({ length: 100 }, (_, i) => a.client.chat.send(chatId, `offline ${i}`));
    t = await t.restart();
    const acks = await Promise.all(sends);
    expect(new Set(acks.map((ack) => ack.seq)).size).toBe(100);
    await waitFor(() => received.length === 101, 'every message');
    expect(received.slice(1).sort()).toEqual(Array.from({ length: 100 }, (_, i) => `offline ${i}`).sort());
    await Promise.all([a.client.close(), b.client.close()]);
  });
});
