import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ChatId } from '@omechat/protocol';
import { startTestServer, type TestServer } from '@omechat/server/testing';
import { createOmeChatClient, MemoryKeyStore, OmeChatError, type ClientEvent, type KeyStore, type OmeChatClient, type OmeChatClientOptions } from '../src/index.js';
import { createClient } from '../src/client.js';
import { FileMessageStore } from '../src/file-store.js';

/** Issue 17: the SDK as the README tells people to use it, against a real server. */
let server: TestServer;
const clients: OmeChatClient[] = [];
let names = 0;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server.destroy();
});

function client(options: Partial<OmeChatClientOptions> = {}) {
  const c = createClient({ url: server.url, WebSocket, retryDelayMs: () => 50, ...options });
  clients.push(c);
  return c;
}

/** Events as they arrive, and a wait for the first one that matches. */
function recorder(c: OmeChatClient) {
  const events: ClientEvent[] = [];
  const waiters: (() => void)[] = [];
  c.on((e) => {
    events.push(e);
    for (const wake of waiters.splice(0)) wake();
  });
  async function next<T extends ClientEvent['type']>(type: T, test: (e: Extract<ClientEvent, { type: T }>) => boolean = () => true) {
    for (;;) {
      const hit = events.find((e): e is Extract<ClientEvent, { type: T }> => e.type === type && test(e as Extract<ClientEvent, { type: T }>));
      if (hit) return hit;
      await new Promise<void>((wake) => waiters.push(wake));
    }
  }
  return { events, next };
}

async function signUp(c: OmeChatClient) {
  const username = `daily_${process.pid}_${names++}`;
  const { secret } = await c.account.register({ username, age: 35 });
  return c.account.login({ username, secret });
}

/** A key store whose first save waits for `release`: the device's keys stay unpublished until then. */
function gatedKeyStore(): KeyStore & { release(): void } {
  const inner = new MemoryKeyStore();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return { load: () => inner.load(), save: async (state) => (await gate, inner.save(state)), clear: () => inner.clear(), release };
}

/** A key store whose saves take a while, as on a slow disk. */
function slowKeyStore(): KeyStore {
  const inner = new MemoryKeyStore();
  return { load: () => inner.load(), save: async (state) => (await new Promise((r) => setTimeout(r, 400)), inner.save(state)), clear: () => inner.clear() };
}

/** A `ws` socket that calls `onCall` with the path of every call it sends. */
function watching(onCall: (path: string) => void) {
  return class WatchingSocket extends WebSocket {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- ws's overloads, passed through
    override send(data: any, ...rest: any[]): void {
      const text = String(data);
      if (text !== 'PING' && text !== 'PONG') for (const frame of [JSON.parse(text)].flat() as { params?: { path?: string } }[]) if (frame.params?.path) onCall(frame.params.path);
      super.send(data, ...rest);
    }
  };
}

describe('the documented flow (issue 17, point 1)', () => {
  it('follows the README (register, login, on, eventsLive, match.start) and sends on match.found with no other waiting: nothing is lost', async () => {
    // Devices with a slow disk (a phone, a busy laptop): their keys take a moment to be saved
    // and published, which is when a stranger's first line used to fail with NOT_FOUND.
    const [a, b] = [client({ keyStore: slowKeyStore() }), client({ keyStore: slowKeyStore() })];
    const [ra, rb] = [recorder(a), recorder(b)];
    for (const [c, r, text] of [[a, ra, 'hi from a'], [b, rb, 'hi from b']] as const) {
      void r.next('match.found').then((found) => c.chat.send(found.chatId, text));
    }
    await Promise.all([signUp(a), signUp(b)]);
    await Promise.all([a.eventsLive(), b.eventsLive()]);
    await a.match.start({ tolerance: 0, interests: ['issue17-readme'] });
    await b.match.start({ tolerance: 0, interests: ['issue17-readme'] });
    expect((await rb.next('message', (e) => !e.own)).text).toBe('hi from a');
    expect((await ra.next('message', (e) => !e.own)).text).toBe('hi from b');
    expect([...ra.events, ...rb.events].filter((e) => e.type === 'encryption.failed')).toEqual([]);
  });

  it('a send to a peer whose keys are not published yet waits for them instead of failing', async () => {
    const peerKeys = gatedKeyStore();
    const b = client({ keyStore: peerKeys });
    const rb = recorder(b);
    // The first time the sender asks for the peer's devices, they are not there yet: only then
    // does the peer get to publish its keys.
    const a = client({ WebSocket: watching((path) => path === 'keys.devices' && peerKeys.release()) });
    const ra = recorder(a);
    await Promise.all([signUp(a), signUp(b)]);
    await Promise.all([a.eventsLive(), b.eventsLive()]);
    // Low level, so nothing waits for the peer's own keys (as a client without the SDK would).
    await createClientInternals(b).match.start.mutate({ tolerance: 0, interests: ['issue17-gated'] });
    await a.match.start({ tolerance: 0, interests: ['issue17-gated'] });
    const found = await ra.next('match.found');
    await a.chat.send(found.chatId, 'the first line');
    expect((await rb.next('message', (e) => !e.own)).text).toBe('the first line');
  });

  it('fails with PEER_NOT_READY, not NOT_FOUND, when the peer never publishes keys within the deadline', async () => {
    const b = client({ keyStore: gatedKeyStore() });
    const a = client({ callTimeoutMs: 2_000 });
    const ra = recorder(a);
    await Promise.all([signUp(a), signUp(b)]);
    await a.eventsLive();
    await createClientInternals(b).match.start.mutate({ tolerance: 0, interests: ['issue17-never'] });
    await a.match.start({ tolerance: 0, interests: ['issue17-never'] });
    const found = await ra.next('match.found');
    const error = await a.chat.send(found.chatId, 'into the void').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OmeChatError);
    expect((error as OmeChatError).code).toBe('PEER_NOT_READY');
  });

  it('reports no encryption failure for a key set-up that close() cut short', async () => {
    const c = client();
    const r = recorder(c);
    const username = `daily_${process.pid}_${names++}`;
    const { secret } = await c.account.register({ username, age: 35 });
    await c.account.login({ username, secret });
    await c.close();
    await c.encryptionReady().catch(() => undefined); // the set-up in flight has settled
    expect(r.events.filter((e) => e.type === 'encryption.failed')).toEqual([]);
  });
});

function createClientInternals(c: OmeChatClient) {
  return (c as ReturnType<typeof createClient>).internals.trpc();
}

describe('errors a developer can act on (issue 17, point 2)', () => {
  it('refuses a bad username before the proof-of-work, saying the rule', async () => {
    const c = createOmeChatClient({ url: server.url, WebSocket });
    clients.push(c);
    let progress = 0;
    const error = (await c.account.register({ username: 'no spaces!', age: 35 }, { onProgress: () => progress++ }).catch((e: unknown) => e)) as OmeChatError;
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toContain('username must be');
    expect(error.message).toContain('3-32 characters of A-Z a-z 0-9 _ . -');
    expect(error.details.fields).toEqual(['username']);
    expect(progress).toBe(0);
    const age = (await c.account.register({ username: 'fine_name', age: 7 }).catch((e: unknown) => e)) as OmeChatError;
    expect(age.message).toContain('age must be a whole number from 13 to 120');
  });

  it('says "not signed in" for a call made while signed out', async () => {
    const c = createOmeChatClient({ url: server.url, WebSocket });
    clients.push(c);
    for (const call of [() => c.chat.list(), () => c.chat.send('x' as ChatId, 'hi'), () => c.match.start({ tolerance: 0 }), () => c.encryptionReady()]) {
      const error = (await call().catch((e: unknown) => e)) as OmeChatError;
      expect(error.code).toBe('UNAUTHORIZED');
      expect(error.message).toMatch(/^Not signed in/);
    }
  });
});

describe('what a restart keeps (issue 17, points 5 and 7)', () => {
  it('keeps read marks and who left across a restart, and tells each side who ended the chat', async () => {
    const store = join(server.dataDir, 'a-messages.jsonl');
    let a = client({ messageStore: new FileMessageStore(store) });
    const b = client();
    const [ra, rb] = [recorder(a), recorder(b)];
    await Promise.all([signUp(a), signUp(b)]);
    await Promise.all([a.eventsLive(), b.eventsLive()]);
    await a.match.start({ tolerance: 0, interests: ['issue17-marks'] });
    await b.match.start({ tolerance: 0, interests: ['issue17-marks'] });
    const { chatId } = await ra.next('match.found');
    const sent = await a.chat.send(chatId, 'read me');
    await rb.next('message', (e) => !e.own);
    await b.message.markRead(chatId, sent.seq);
    await ra.next('message.read');
    await a.chat.leave(chatId);
    expect((await ra.next('chat.ended')).by).toBe('you');
    expect((await rb.next('chat.ended')).by).toBe('peer');

    // The app restarts over the same message store.
    const credentials = a.credentials;
    await a.close();
    a = client({ credentials, messageStore: new FileMessageStore(store) });
    const history = await a.chat.history({ chatId });
    expect(history.messages.map((m) => [m.text, m.own, m.status])).toEqual([['read me', true, 'read']]);
    expect(await new FileMessageStore(store).marks(chatId)).toEqual({ deliveredSeq: sent.seq, readSeq: sent.seq, leftByYou: true });
  });
});
