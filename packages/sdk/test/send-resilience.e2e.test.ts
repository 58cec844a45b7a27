import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ChatId } from '@omechat/protocol';
import { freePort, startTestServer, type TestServer } from '@omechat/server/testing';
import { createOmeChatClient, MemoryKeyStore, OmeChatError, type ClientEvent, type OmeChatClient, type OmeChatClientOptions } from '../src/index.js';

/**
 * chat.send and the SDK's error path against a real server: dropped connections at each step
 * of a send, a server restart in the middle of one, a server that stays down, and one that
 * never was there. Every failure must be an OmeChatError with a protocol code.
 */
let server: TestServer;
const clients: OmeChatClient[] = [];
let names = 0;

function client(options: Partial<OmeChatClientOptions> = {}) {
  const c = createOmeChatClient({ url: server.url, WebSocket, retryDelayMs: () => 50, ...options });
  clients.push(c);
  return c;
}

async function until(predicate: () => boolean, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function signUp(c: OmeChatClient) {
  const username = `res_${process.pid}_${names++}`;
  const { secret } = await c.account.register({ username, age: 33 });
  await c.account.login({ username, secret });
  return { username, secret };
}

/** A sender that knows nothing yet (so a first send walks every step) and a listening peer. */
async function pair(sender: OmeChatClient) {
  const peer = client();
  const got: ClientEvent[] = [];
  peer.on((e) => got.push(e));
  const account = await signUp(sender);
  await signUp(peer);
  await Promise.all([sender.encryptionReady(), peer.encryptionReady(), peer.eventsLive()]);
  await sender.match.start({ tolerance: 0 });
  await peer.match.start({ tolerance: 0 });
  await until(() => got.some((e) => e.type === 'match.found'), 'a match');
  const found = got.find((e) => e.type === 'match.found');
  if (found?.type !== 'match.found') throw new Error('no match');
  const texts = () => got.flatMap((e) => (e.type === 'message' ? [e.text] : []));
  return { peer, chatId: found.chatId, texts, account };
}

/**
 * A `ws` socket that drops the connection at a chosen step: `before` cuts it instead of
 * sending the call, `after` cuts it right after the call went out (the answer is lost).
 */
type Cut = { path: string; when: 'before' | 'after'; times: number };
function cutting(cut: Cut) {
  return class CuttingSocket extends WebSocket {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- ws's overloads, passed through
    override send(data: any, ...rest: any[]): void {
      // Keep-alive answers ("PONG") are not JSON and never a call to cut.
      const text = String(data);
      const frames = (text === 'PING' || text === 'PONG' ? [] : [JSON.parse(text)].flat()) as { params?: { path?: string } }[];
      if (cut.times > 0 && frames.some((f) => f.params?.path === cut.path)) {
        cut.times--;
        if (cut.when === 'before') return this.terminate();
        return super.send(data, () => this.terminate());
      }
      return super.send(data, ...rest);
    }
  };
}

async function failure(promise: Promise<unknown>) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OmeChatError);
  return error as OmeChatError;
}

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server.destroy();
});

describe('chat.send survives a connection dropped at any step, and the peer gets it once', () => {
  // The steps of a device's first send to a new peer, in order. The key set-up steps run
  // once at sign-in too, so they are cut twice: at sign-in and again inside the send.
  const steps: [string, number][] = [
    ['account.me', 2],
    ['keys.status', 2],
    ['keys.upload', 2],
    ['chat.list', 1],
    ['keys.devices', 1],
    ['keys.bundles', 1],
    ['message.send', 1],
  ];
  for (const [path, times] of steps) {
    for (const when of ['before', 'after'] as const) {
      it(`cut ${when} ${path}`, async () => {
        // Keys that reached the server before the cut are not uploaded again.
        const cuts = path === 'keys.upload' && when === 'after' ? 1 : times;
        const cut: Cut = { path: 'none', when, times: 0 };
        const sender = client({ WebSocket: cutting(cut) });
        const { chatId, texts, account } = await pair(sender);
        Object.assign(cut, { path, times: cuts });
        // For the key set-up steps: a new device of the sender, cut from its first call on.
        const device = times === 2 ? client({ WebSocket: cutting(cut) }) : sender;
        if (device !== sender) await device.account.login(account);
        const ack = await device.chat.send(chatId, `cut ${when} ${path}`);
        expect(cut.times).toBe(0);
        await device.chat.send(chatId, 'marker');
        await until(() => texts().includes('marker'), 'the marker');
        expect(texts()).toEqual([`cut ${when} ${path}`, 'marker']);
        const history = await device.chat.history({ chatId, limit: 10 });
        expect(history.messages.map((m) => [m.seq, m.text])).toEqual([
          [ack.seq, `cut ${when} ${path}`],
          [ack.seq + 1, 'marker'],
        ]);
      });
    }
  }
});

describe('the error path', () => {
  it('rides out a server restart in the middle of a send', async () => {
    const sender = client();
    const { chatId, texts } = await pair(sender);
    await sender.chat.send(chatId, 'before');
    await until(() => texts().length === 1, 'the first message');

    // The send starts while the server is down and waits for it to come back.
    await server.close();
    await until(() => sender.state === 'reconnecting', 'the connection to drop');
    const sending = sender.chat.send(chatId, 'during the restart');
    server = await server.restart();
    const ack = await sending;
    await sender.chat.send(chatId, 'after');
    await until(() => texts().includes('after'), 'the last message');
    expect(texts()).toEqual(['before', 'during the restart', 'after']);
    expect(ack.seq).toBe(2);
  });

  it('fails a send with UNAVAILABLE by the call timeout when the server stays down', async () => {
    const sender = client({ callTimeoutMs: 2_000 });
    const { chatId } = await pair(sender);
    await server.close();
    const started = Date.now();
    const error = await failure(sender.chat.send(chatId, 'nobody home'));
    const took = Date.now() - started;
    server = await server.restart();
    expect(error.code).toBe('UNAVAILABLE');
    expect(took).toBeGreaterThanOrEqual(1_900);
    expect(took).toBeLessThan(2_000 + 1_500);
  });

  it('reports a refused connection at once, and keeps reconnecting in the background', async () => {
    const port = await freePort();
    const c = createOmeChatClient({ url: `ws://127.0.0.1:${port}/trpc`, WebSocket, retryDelayMs: () => 100 });
    clients.push(c);
    const started = Date.now();
    expect((await failure(c.account.register({ username: 'nobody_home', age: 30 }))).code).toBe('UNAVAILABLE');
    expect((await failure(c.account.login({ username: 'nobody_home', secret: 's'.repeat(64) }))).code).toBe('UNAVAILABLE');
    // Signed out, a send needs no server to fail: it says so (issue 17) instead of UNAVAILABLE.
    expect((await failure(c.chat.send('c'.repeat(26) as ChatId, 'hi'))).code).toBe('UNAUTHORIZED');
    // The timeout is 15 s; a refusal must not wait for it.
    expect(Date.now() - started).toBeLessThan(2_000);
    const late = await startTestServer({ OMECHAT_PORT: String(port) }, server.dataDir);
    try {
      await until(() => c.state === 'connected', 'the background reconnect');
      const { secret } = await c.account.register({ username: `late_${process.pid}`, age: 30 });
      expect(secret).toHaveLength(64);
    } finally {
      await c.close();
      await late.close();
    }
  });

  it('turns every other failure of a send into an OmeChatError with a code', async () => {
    const keyStore = new MemoryKeyStore();
    const sender = client({ keyStore });
    const { chatId } = await pair(sender);
    // A chat this user is not in.
    expect((await failure(sender.chat.send('x'.repeat(26) as ChatId, 'hi'))).code).toBe('FORBIDDEN');
    // The device cannot save its ratchet state: a local failure, still typed.
    keyStore.save = () => Promise.reject(new Error('disk full'));
    const local = await failure(sender.chat.send(chatId, 'hi'));
    expect(local.code).toBe('INTERNAL');
    expect(local.message).toBe('disk full');
  });
});
