import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestServer, type TestServer } from '@omechat/server/testing';
import { createOmeChatClient, OmeChatError, type ClientEvent, type OmeChatClient } from '../src/index.js';
import { FileKeyStore, FileMessageStore } from '../src/file-store.js';

/** The SDK against a real server on a real socket. */
let server: TestServer;
const clients: OmeChatClient[] = [];

function client(url = server.url) {
  const c = createOmeChatClient({ url, WebSocket, retryDelayMs: () => 50 });
  clients.push(c);
  return c;
}

/** Waits for a condition; the limit only names a hang (far above what a loaded machine needs). */
async function until(predicate: () => boolean, what: string) {
  const deadline = Date.now() + 45_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server.destroy();
});

describe('createOmeChatClient', () => {
  it('reports connection state and surfaces typed errors', async () => {
    const c = client();
    const states: string[] = [];
    c.onStateChange((s) => states.push(s));
    await until(() => c.state === 'connected', 'connected');
    const err = await c.account.me().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OmeChatError);
    expect((err as OmeChatError).code).toBe('UNAUTHORIZED');
    const bad = await c.account.register({ username: 'x', age: 10 }).catch((e: unknown) => e);
    expect((bad as OmeChatError).code).toBe('BAD_REQUEST');
    expect((bad as OmeChatError).details.fields).toEqual(expect.arrayContaining(['username', 'age']));
    expect(states).toContain('connected');
  });

  it('fails a call with UNAVAILABLE when the server cannot be reached in time', async () => {
    const c = createOmeChatClient({ url: 'ws://127.0.0.1:9/trpc', WebSocket, retryDelayMs: () => 50, callTimeoutMs: 300 });
    clients.push(c);
    const err = await c.account.register({ username: 'nobody_home', age: 30 }).catch((e: unknown) => e);
    expect((err as OmeChatError).code).toBe('UNAVAILABLE');
    expect(c.state).not.toBe('connected');
  });

  it('gives a new device its resume cursor as soon as the stream is live', async () => {
    const c = client();
    const { secret } = await c.account.register({ username: `sdk_live_${process.pid}`, age: 50 });
    const cursors: string[] = [];
    const d = createOmeChatClient({ url: server.url, WebSocket, onLastEventId: (id) => cursors.push(id) });
    clients.push(d);
    await d.account.login({ username: `sdk_live_${process.pid}`, secret });
    d.on(() => undefined);
    await d.eventsLive();
    await until(() => cursors.length > 0, 'a cursor');
    expect(d.lastEventId).toEqual(expect.any(String)); // opaque: the server picks the format
  });

  it('revokes its own device: the call succeeds, then the client is closed as revoked', async () => {
    const c = client();
    const name = `sdk_self_${process.pid}`;
    const { secret } = await c.account.register({ username: name, age: 51 });
    const { clientHash } = await c.account.login({ username: name, secret });
    await c.clients.revoke({ clientHash });
    await until(() => c.state === 'closed', 'closed');
    expect(c.closedReason).toBe('revoked');
  });

  it('chats end to end and keeps going across a server restart, with nothing lost or doubled', async () => {
    const a = client();
    const b = client();
    const got: ClientEvent[] = [];
    b.on((e) => got.push(e));
    a.on(() => undefined);
    const sa = await a.account.register({ username: `sdk_a_${process.pid}`, age: 44 });
    await a.account.login({ username: `sdk_a_${process.pid}`, secret: sa.secret });
    const sb = await b.account.register({ username: `sdk_b_${process.pid}`, age: 44 });
    await b.account.login({ username: `sdk_b_${process.pid}`, secret: sb.secret });
    await Promise.all([a.encryptionReady(), b.encryptionReady()]);
    await a.match.start({ tolerance: 0 });
    await b.match.start({ tolerance: 0 });
    await until(() => got.some((e) => e.type === 'match.found'), 'match');
    const chatId = got.find((e) => e.type === 'match.found')!.chatId as never;

    await a.chat.send(chatId, 'before restart');
    await until(() => got.some((e) => e.type === 'message'), 'first message');

    await server.close();
    await until(() => b.state !== 'connected', 'disconnect');
    server = await server.restart();
    await until(() => a.state === 'connected' && b.state === 'connected', 'reconnect');
    await a.chat.send(chatId, 'after restart');
    // Ordered delivery: a replayed 'before restart' would arrive before this one.
    await until(() => got.some((e) => e.type === 'message' && e.text === 'after restart'), 'second message');
    expect(got.flatMap((e) => (e.type === 'message' ? [e.text] : []))).toEqual(['before restart', 'after restart']);
    const history = await b.chat.history({ chatId, limit: 10 });
    expect(history.messages.map((m) => m.text)).toEqual(['before restart', 'after restart']);

    // Safety: a report may disclose what this device decrypted; a block ends the chat.
    expect(await b.safety.report({ chatId, reason: 'minor-safety', discloseSeqs: [1] })).toEqual({ urgent: true });
    const again = await b.safety.report({ chatId, reason: 'spam' }).catch((e: unknown) => e);
    expect((again as OmeChatError).code).toBe('ALREADY_REPORTED');
    const found = got.find((e) => e.type === 'match.found');
    if (found?.type !== 'match.found') throw new Error('no match');
    await b.safety.block(found.peer.userHash);
    await until(() => got.some((e) => e.type === 'chat.ended'), 'the chat to end');
    expect((await b.safety.blocks()).length).toBe(1);
  });

  it('reads its history after an app restart from its message store, and erases it with the account', async () => {
    const a = client();
    const got: ClientEvent[] = [];
    const stores = () => ({ keyStore: new FileKeyStore(join(server.dataDir, 'b-keys.json')), messageStore: new FileMessageStore(join(server.dataDir, 'b-messages.jsonl')) });
    let b = createOmeChatClient({ url: server.url, WebSocket, retryDelayMs: () => 50, ...stores() });
    clients.push(b);
    b.on((e) => got.push(e));
    const sa = await a.account.register({ username: `sdk_sa_${process.pid}`, age: 60 });
    await a.account.login({ username: `sdk_sa_${process.pid}`, secret: sa.secret });
    const sb = await b.account.register({ username: `sdk_sb_${process.pid}`, age: 60 });
    await b.account.login({ username: `sdk_sb_${process.pid}`, secret: sb.secret });
    await Promise.all([a.encryptionReady(), b.encryptionReady(), b.eventsLive()]);
    await a.match.start({ tolerance: 0 });
    await b.match.start({ tolerance: 0 });
    await until(() => got.some((e) => e.type === 'match.found'), 'match');
    const chatId = got.find((e) => e.type === 'match.found')!.chatId as never;
    await a.chat.send(chatId, 'remember me');
    await until(() => got.some((e) => e.type === 'message'), 'the message');
    await b.chat.send(chatId, 'and me');

    // The app restarts: a new client over the same files and credentials.
    const credentials = b.credentials;
    await b.close();
    b = createOmeChatClient({ url: server.url, WebSocket, credentials, ...stores() });
    clients.push(b);
    const history = await b.chat.history({ chatId, limit: 10 });
    expect(history.messages.map((m) => m.text)).toEqual(['remember me', 'and me']);

    await b.account.delete({ secret: sb.secret });
    const reopened = stores();
    expect(await reopened.keyStore.load()).toBeNull();
    expect((await reopened.messageStore.get(chatId, [1, 2])).size).toBe(0);
  });
});
