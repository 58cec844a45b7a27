import { afterEach, describe, expect, it } from 'vitest';
import { envelopeFor, matchedPair, startTestServer, type TestServer } from '../harness.js';
import { rpc } from '../safety-harness.js';
import { BYSTANDER_P99_MS, bystanders, codeOfFrame, request, signedInSocket } from './attack-harness.js';

/**
 * Issue 15, point 8: the chatter procedures had no limit. One frame of 2,000 `chat.typing`
 * calls was relayed 2,000 times to the peer; `message.markRead`, `safety.block`/`unblock`
 * were free; `keys.bundles` answered after the chat had ended, and 120 calls drained all 100
 * of a past peer's one-time prekeys. Each attack here is one frame of 1,000 calls.
 */
const CALLS = 1000;
let t: TestServer;
afterEach(async () => {
  await t.destroy();
});

/** The transport's default batch cap: a real server takes at most this many calls per frame. */
const DEFAULT_BATCH = 50;

async function serve(env: Record<string, string> = {}) {
  t = await startTestServer({
    // One frame of 1,000 is the attack the counts are checked against: the transport's batch
    // and in-flight caps must not stop it first.
    OMECHAT_MAX_BATCH: String(CALLS),
    OMECHAT_MAX_CALLS_IN_FLIGHT: String(CALLS),
    OMECHAT_RATE_TYPING: '5/60',
    OMECHAT_RATE_READ_RECEIPTS: '5/60',
    OMECHAT_RATE_BLOCKS: '5/3600',
    OMECHAT_RATE_KEY_BUNDLES: '3/3600',
    ...env,
  });
}

/**
 * Sends `calls` from a signed-in raw socket, all in one frame, or back to back in frames of
 * `perFrame`; resolves with how each was answered.
 */
async function oneFrame(credentials: { clientHash: string; accessToken: string }, calls: { path: string; input: unknown }[], from = '127.0.1.2', perFrame = calls.length) {
  const socket = signedInSocket(t.url, credentials, from);
  expect(await socket.opened).toBe('open');
  const requests = calls.map((c, i) => request(i + 1, 'mutation', c.path, c.input));
  for (let i = 0; i < requests.length; i += perFrame) socket.send(requests.slice(i, i + perFrame));
  const frames = await socket.next(calls.length);
  socket.ws.close();
  const codes = frames.map((f) => codeOfFrame(f) ?? 'ok');
  return { ok: codes.filter((c) => c === 'ok').length, limited: codes.filter((c) => c === 'RATE_LIMITED').length, other: codes.filter((c) => c !== 'ok' && c !== 'RATE_LIMITED') };
}

describe('chatter procedures are limited, even in one frame', () => {
  it('chat.typing: 1,000 calls relay 5 notices to the peer, not 1,000', async () => {
    await serve();
    const { a, b, eb, chatId } = await matchedPair(t.url, ['127.0.1.2', '127.0.2.2']);
    const result = await oneFrame(a.credentials, Array.from({ length: CALLS }, () => ({ path: 'chat.typing', input: { chatId, typing: true } })));
    expect(result).toEqual({ ok: 5, limited: CALLS - 5, other: [] });
    // A message sent after the frame is the marker: every notice the frame caused is ahead of it.
    await rpc(a.client).message.send.mutate({ chatId, envelope: envelopeFor([b.credentials.clientHash], 'marker'), clientMessageId: 'marker' });
    await eb.next('message.new');
    expect(eb.of('chat.typing')).toHaveLength(5);
    await Promise.all([a.client.close(), b.client.close()]);
  });

  it('chat.typing at the default batch cap (20 frames of 50, back to back): bystanders keep chatting', async () => {
    await serve({ OMECHAT_MAX_BATCH: String(DEFAULT_BATCH), OMECHAT_MAX_CALLS_IN_FLIGHT: '64' });
    const { a, b, eb, chatId } = await matchedPair(t.url, ['127.0.1.2', '127.0.2.2']);
    const watch = await bystanders(t);
    const calls = Array.from({ length: CALLS }, () => ({ path: 'chat.typing', input: { chatId, typing: true } }));
    // Over the in-flight cap the transport refuses with RATE_LIMITED as well: 5 pass either way.
    expect(await oneFrame(a.credentials, calls, '127.0.1.2', DEFAULT_BATCH)).toEqual({ ok: 5, limited: CALLS - 5, other: [] });
    await rpc(a.client).message.send.mutate({ chatId, envelope: envelopeFor([b.credentials.clientHash], 'marker'), clientMessageId: 'marker' });
    await eb.next('message.new');
    expect(eb.of('chat.typing')).toHaveLength(5);
    await watch.acks(5);
    expect((await watch.finish()).p99).toBeLessThan(BYSTANDER_P99_MS);
    await Promise.all([a.client.close(), b.client.close()]);
  });

  it('message.markRead: 5 of 1,000 are answered, the rest RATE_LIMITED', async () => {
    await serve();
    const { a, b, chatId } = await matchedPair(t.url, ['127.0.1.2', '127.0.2.2']);
    await rpc(b.client).message.send.mutate({ chatId, envelope: envelopeFor([a.credentials.clientHash], 'hi'), clientMessageId: 'hi' });
    const result = await oneFrame(a.credentials, Array.from({ length: CALLS }, () => ({ path: 'message.markRead', input: { chatId, seq: 1 } })));
    expect(result).toEqual({ ok: 5, limited: CALLS - 5, other: [] });
    await Promise.all([a.client.close(), b.client.close()]);
  });

  it('safety.block and unblock: 5 of 1,000 per user, whichever device sends them', async () => {
    await serve();
    const { a, b } = await matchedPair(t.url, ['127.0.1.2', '127.0.2.2']);
    const calls = Array.from({ length: CALLS }, (_, i) => ({ path: i % 2 ? 'safety.unblock' : 'safety.block', input: { userHash: b.userHash } }));
    expect(await oneFrame(a.credentials, calls)).toEqual({ ok: 5, limited: CALLS - 5, other: [] });
    // A second device of the same user gets nothing more: the limit is the user's.
    const second = await a.client.account.login({ username: a.username, secret: a.secret });
    expect(await oneFrame({ clientHash: second.clientHash, accessToken: second.accessToken }, calls.slice(0, 10))).toEqual({ ok: 0, limited: 10, other: [] });
    await Promise.all([a.client.close(), b.client.close()]);
  });
});

describe('keys.bundles', () => {
  /** A matched pair whose second member has published its keys (one-time prekeys included). */
  async function pairWithKeys() {
    const p = await matchedPair(t.url, ['127.0.1.2', '127.0.2.2']);
    await p.b.client.encryptionReady();
    const prekeys = async () => (await rpc(p.b.client).keys.status.query()).oneTimePrekeys;
    return { ...p, prekeys };
  }

  it("a past peer's prekeys cannot be drained: FORBIDDEN once the chat has ended, and nothing is taken", async () => {
    await serve({ OMECHAT_RATE_KEY_BUNDLES: '1000000/3600' }); // the chat's state alone must stop it
    const { a, b, ea, chatId, prekeys } = await pairWithKeys();
    await a.client.chat.leave(chatId);
    await ea.next('chat.ended');
    const before = await prekeys();
    expect(before).toBeGreaterThan(0);
    const result = await oneFrame(a.credentials, Array.from({ length: 120 }, () => ({ path: 'keys.bundles', input: { userHash: b.userHash } })));
    expect(result).toEqual({ ok: 0, limited: 0, other: Array(120).fill('FORBIDDEN') });
    expect(await prekeys()).toBe(before);
    await Promise.all([a.client.close(), b.client.close()]);
  });

  it("a current peer's: 3 of 1,000 calls (frames of 50) answered, 3 prekeys taken; bystanders keep chatting", async () => {
    await serve({ OMECHAT_MAX_BATCH: String(DEFAULT_BATCH), OMECHAT_MAX_CALLS_IN_FLIGHT: '64' });
    const { a, b, chatId, prekeys } = await pairWithKeys();
    const before = await prekeys();
    const watch = await bystanders(t);
    const calls = Array.from({ length: CALLS }, () => ({ path: 'keys.bundles', input: { userHash: b.userHash } }));
    expect(await oneFrame(a.credentials, calls, '127.0.1.2', DEFAULT_BATCH)).toEqual({ ok: 3, limited: CALLS - 3, other: [] });
    expect(await prekeys()).toBe(before - 3);
    await watch.acks(5);
    expect((await watch.finish()).p99).toBeLessThan(BYSTANDER_P99_MS);
    // The limit is per addressed user: the attacker's own devices are another count.
    expect(await oneFrame(a.credentials, [{ path: 'keys.bundles', input: { userHash: a.userHash } }])).toEqual({ ok: 1, limited: 0, other: [] });
    // And the chat still works both ways.
    await rpc(b.client).message.send.mutate({ chatId, envelope: envelopeFor([a.credentials.clientHash], 'still here'), clientMessageId: 'still' });
    await Promise.all([a.client.close(), b.client.close()]);
  });
});
