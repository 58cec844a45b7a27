import { afterEach, describe, expect, it } from 'vitest';
import { connect, envelopeFor, matchedPair, startTestServer, waitFor, type TestClient, type TestServer } from '../harness.js';
import { rpc } from '../safety-harness.js';
import { BYSTANDER_P99_MS, bystanders, codeOfFrame, rawSocket, request, signedInSocket } from './attack-harness.js';

/**
 * Attacks with an account. Before: with its socket paused, one 1.7 KB frame of 15
 * `chat.history` queries (limit 200, 96 KB messages) raised server memory from 297 to 681 MB
 * (the 4 MiB output budget applied to the event stream only); one account stored 620 x 96 KB
 * (61 MB) in 20 s from its 16 devices, kept 30 days. Now every reply checks the output
 * budget, history pages stop at 1 MiB, calls in flight per connection are capped, and stored
 * bytes have budgets per user and per chat.
 */
let t: TestServer;
afterEach(async () => {
  await t.destroy();
});

/** An envelope of about 60 KB (near the 64K-character ciphertext limit of one part); the server cannot tell it from a real one. */
const bigEnvelope = (to: string, tag: string) => envelopeFor([to], `${tag}:${'x'.repeat(45_000)}`);

describe('output budget', () => {
  it('history pages stop at OMECHAT_HISTORY_PAGE_BYTES, and a paused reader is cut, not buffered for', async () => {
    t = await startTestServer({ OMECHAT_MAX_BUFFERED_BYTES: String(256 * 1024) });
    const { a, b, chatId } = await matchedPair(t.url);
    for (let i = 0; i < 30; i++) {
      await rpc(a.client).message.send.mutate({ chatId, envelope: bigEnvelope(b.credentials.clientHash, `m${i}`), clientMessageId: `big-${i}` });
    }
    // One page holds at most 1 MiB of envelopes (before: all 30, 1.8 MB); hasMore says there is more.
    const page = await a.client.chat.history({ chatId, limit: 200 });
    expect(page.messages.length).toBeLessThan(30);
    expect(JSON.stringify(page.messages).length).toBeLessThan(1024 * 1024 + 100 * 1024);
    expect(page.hasMore).toBe(true);
    await a.client.close();
    await waitFor(() => t.server.connections.countForUser(a.userHash) === 0, 'the SDK client gone');

    // The attacker stops reading, then asks for 45 pages in one frame (45 MiB of replies).
    const chat = await bystanders(t);
    const attacker = signedInSocket(t.url, a.credentials);
    await attacker.opened;
    attacker.send(request(0, 'query', 'account.me'));
    await attacker.next(1);
    (attacker.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    attacker.send(Array.from({ length: 45 }, (_, i) => request(i + 1, 'query', 'chat.history', { chatId, limit: 200 })));
    // The server cuts the connection once its unread output passes the budget.
    await waitFor(() => t.server.connections.countForUser(a.userHash) === 0, 'the server to cut the paused reader');
    (attacker.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await attacker.closed;
    // What reached the client is what the kernel's buffers held plus the budget: far from 45 pages.
    expect(attacker.received.bytes).toBeLessThan(20 * 1024 * 1024);
    await chat.acks(5);
    expect((await chat.finish()).p99).toBeLessThan(BYSTANDER_P99_MS);
  });

  it('caps calls in flight per connection: the rest of a frame is refused RATE_LIMITED at once', async () => {
    t = await startTestServer({ OMECHAT_MAX_CALLS_IN_FLIGHT: '8' });
    const anonymous = rawSocket(t.url, { localAddress: '127.0.1.2' });
    await anonymous.opened;
    anonymous.send(Array.from({ length: 50 }, (_, i) => request(i, 'mutation', 'account.login', { username: `nobody_${i}`, secret: 'x'.repeat(64) })));
    const codes = (await anonymous.next(50)).map(codeOfFrame);
    expect(codes.filter((c) => c === 'INVALID_CREDENTIALS')).toHaveLength(8);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(42);
  });
});

describe('storage budget', () => {
  it('stored bytes are budgeted per user (all devices together) and per chat, refused RATE_LIMITED', async () => {
    t = await startTestServer({ OMECHAT_RATE_MESSAGE_BYTES_PER_USER: `${1024 * 1024}/86400`, OMECHAT_RATE_MESSAGE_BYTES_PER_CHAT: `${1536 * 1024}/86400` });
    const { a, b, chatId } = await matchedPair(t.url);
    const second = await a.client.account.login({ username: a.username, secret: a.secret, deviceName: 'second' });
    const aSecond = connect(t.url, { clientHash: second.clientHash, accessToken: second.accessToken }) as TestClient;
    const send = (client: TestClient, to: string, i: number) =>
      rpc(client).message.send.mutate({ chatId, envelope: bigEnvelope(to, `s${i}`), clientMessageId: `s-${i}-${Math.random()}` });
    // Two devices of one user: one budget.
    let stored = 0;
    let refusal: unknown;
    for (let i = 0; i < 60 && !refusal; i++) {
      await send(i % 2 ? aSecond : a.client, b.credentials.clientHash, i).then(() => stored++, (err: unknown) => (refusal = err));
    }
    expect(stored).toBeGreaterThanOrEqual(16);
    expect(stored).toBeLessThanOrEqual(17); // 1 MiB / ~60 KB of envelope JSON
    expect((refusal as { data?: { omechatCode?: string } }).data?.omechatCode).toBe('RATE_LIMITED');
    // The peer has a budget of its own, but the chat's (1.5 MiB) ends first.
    let peerStored = 0;
    refusal = undefined;
    for (let i = 0; i < 60 && !refusal; i++) {
      await send(b.client, a.credentials.clientHash, i).then(() => peerStored++, (err: unknown) => (refusal = err));
    }
    expect(stored + peerStored).toBeLessThanOrEqual(26); // 1.5 MiB / ~60 KB
    expect(peerStored).toBeGreaterThanOrEqual(8);
    expect((refusal as { data?: { omechatCode?: string } }).data?.omechatCode).toBe('RATE_LIMITED');
    await Promise.all([a.client.close(), b.client.close(), aSecond.close()]);
  });
});
