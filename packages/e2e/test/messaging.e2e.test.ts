import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CLOSE_CODES, type ChatId } from '@omechat/protocol';
import { createOmeChatClient, type OmeChatClient } from '@omechat/sdk';
import { codeOf, matchedPair, connect, envelopeFor, recorder, signUp, spawnServer, startTestServer, waitFor, type TestServer } from './harness.js';

let t: TestServer;
const open: { close(): Promise<void> }[] = [];
beforeEach(async () => {
  t = await startTestServer();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await t.destroy();
});

const track = <C extends { close(): Promise<void> }>(c: C) => {
  open.push(c);
  return c;
};

const pair = (url = t.url) => matchedPair(url);

const send = (client: OmeChatClient, chatId: ChatId, to: string[], text: string, clientMessageId?: string) =>
  client.message.send({ chatId, envelope: envelopeFor(to, text), clientMessageId });

describe('messaging', () => {
  it('acks after storing, with seq rising by one, and every device of both users gets the message', async () => {
    const { a, b, eb, chatId } = await pair();
    const a2 = track(connect(t.url));
    await a2.account.login({ username: a.username, secret: a.secret });
    const ea2 = recorder(a2);
    const b2 = track(connect(t.url));
    await b2.account.login({ username: b.username, secret: b.secret });
    const eb2 = recorder(b2);
    await Promise.all([a2.eventsLive(), b2.eventsLive()]);

    const acks = [];
    for (const text of ['one', 'two', 'three']) acks.push(await send(a.client, chatId, [b.credentials.clientHash], text));
    expect(acks.map((x) => x.seq)).toEqual([1, 2, 3]);
    await eb.next('message.new', 3);
    await eb2.next('message.new', 3);
    await ea2.next('message.new', 3);
    expect(eb.texts()).toEqual(['one', 'two', 'three']);
    expect(eb2.texts()).toEqual(['one', 'two', 'three']);
    expect(ea2.texts()).toEqual(['one', 'two', 'three']);
    expect(eb.of('message.new')[0]!.message).toMatchObject({ messageId: acks[0]!.messageId, senderUserHash: a.userHash, seq: 1 });

    const history = await b.client.chat.history({ chatId, limit: 2 });
    expect(history.messages.map((m) => m.seq)).toEqual([2, 3]);
    expect(history.hasMore).toBe(true);
    const older = await b.client.chat.history({ chatId, beforeSeq: 2, limit: 10 });
    expect(older.messages.map((m) => m.seq)).toEqual([1]);
    expect(older.hasMore).toBe(false);
  });

  it('acknowledges a retried send once and stores nothing new', async () => {
    const { a, b, eb, chatId } = await pair();
    const first = await send(a.client, chatId, [b.credentials.clientHash], 'hello', 'retry-1');
    const again = await send(a.client, chatId, [b.credentials.clientHash], 'hello', 'retry-1');
    expect(again).toEqual(first);
    await send(a.client, chatId, [b.credentials.clientHash], 'next', 'retry-2');
    // The stream is ordered: a duplicate of 'hello' would arrive before 'next'.
    await waitFor(() => eb.texts().includes('next'), "'next'");
    expect(eb.texts()).toEqual(['hello', 'next']);
    expect((await b.client.chat.history({ chatId, limit: 50 })).messages).toHaveLength(2);
  });

  it('sends delivery and read receipts, typing indicators, and counts unread messages', async () => {
    const { a, b, ea, eb, chatId } = await pair();
    await b.client.chat.typing(chatId, true);
    expect(await ea.next('chat.typing')).toMatchObject({ chatId, userHash: b.userHash, typing: true });
    await send(a.client, chatId, [b.credentials.clientHash], 'm1');
    await send(a.client, chatId, [b.credentials.clientHash], 'm2');
    await eb.next('message.new', 2);
    await waitFor(() => ea.of('message.delivered').some((e) => e.seq === 2), 'delivery receipt for seq 2');
    expect((await b.client.chat.list())[0]).toMatchObject({ chatId, unread: 2, lastSeq: 2, state: 'active' });
    await b.client.message.markRead(chatId, 2);
    expect(await ea.next('message.read')).toMatchObject({ chatId, seq: 2, by: b.userHash });
    expect((await b.client.chat.list())[0]!.unread).toBe(0);
    expect((await a.client.chat.list())[0]).toMatchObject({ unread: 0, peer: { userHash: b.userHash } });
  });

  it('answers FORBIDDEN to non-members, the same whether or not the chat exists', async () => {
    const { chatId } = await pair();
    const outsider = track((await signUp(t.url)).client);
    const missing = 'nochatwiththisid_123' as ChatId;
    for (const id of [chatId, missing]) {
      expect(await codeOf(outsider.chat.history({ chatId: id, limit: 10 }))).toBe('FORBIDDEN');
      expect(await codeOf(send(outsider, id, [outsider.credentials!.clientHash], 'x'))).toBe('FORBIDDEN');
      expect(await codeOf(outsider.message.markRead(id, 1))).toBe('FORBIDDEN');
      expect(await codeOf(outsider.chat.leave(id))).toBe('FORBIDDEN');
      expect(await codeOf(outsider.chat.typing(id, true))).toBe('FORBIDDEN');
    }
  });

  it('ends a chat for both on leave; nothing more is accepted', async () => {
    const { a, b, eb, chatId } = await pair();
    await a.client.chat.leave(chatId);
    expect(await eb.next('chat.ended')).toMatchObject({ chatId, reason: 'left' });
    expect(await codeOf(send(b.client, chatId, [a.credentials.clientHash], 'too late'))).toBe('CHAT_ENDED');
    expect((await b.client.chat.list())[0]!.state).toBe('ended');
  });

  it('resumes from lastEventId after being offline: everything missed, in order, once', async () => {
    const { a, b, eb, chatId } = await pair();
    await send(a.client, chatId, [b.credentials.clientHash], 'before');
    await eb.next('message.new');
    await waitFor(() => b.client.lastEventId !== null, 'a cursor');
    const cursor = b.client.lastEventId;
    await b.client.close();
    for (let i = 0; i < 5; i++) await send(a.client, chatId, [b.credentials.clientHash], `missed ${i}`);
    await a.client.chat.typing(chatId, true); // ephemeral: must not be replayed

    const resumed = track(
      createOmeChatClient({ url: t.url, credentials: b.credentials, WebSocket: WebSocket, lastEventId: cursor }),
    );
    const er = recorder(resumed);
    await er.next('message.new', 5);
    // A marker sent now comes after anything the resume could still replay (the stream is ordered).
    await send(a.client, chatId, [b.credentials.clientHash], 'marker');
    await waitFor(() => er.texts().includes('marker'), 'the marker');
    expect(er.texts()).toEqual(['missed 0', 'missed 1', 'missed 2', 'missed 3', 'missed 4', 'marker']);
    expect(er.of('chat.typing')).toHaveLength(0);
  });

  it('retains nothing past the retention period', async () => {
    const { a, b, chatId } = await pair();
    await send(a.client, chatId, [b.credentials.clientHash], 'old news');
    expect((await t.core.purgeExpired(Date.now() + 29 * 86_400_000)).messages).toBe(0);
    expect((await t.core.purgeExpired(Date.now() + 31 * 86_400_000)).messages).toBe(1);
    expect((await b.client.chat.history({ chatId, limit: 10 })).messages).toHaveLength(0);
  });

  it('ends the chats of a deleted account; the peer is told and keeps the chat, shown with a deleted peer', async () => {
    const { a, b, eb, chatId } = await pair();
    await send(a.client, chatId, [b.credentials.clientHash], 'still here');
    await a.client.account.delete({ secret: a.secret });
    expect(await eb.next('chat.ended')).toMatchObject({ chatId, reason: 'deleted' });
    expect(await b.client.chat.list()).toMatchObject([
      { chatId, state: 'ended', endReason: 'deleted', peer: { userHash: a.userHash, deleted: true, username: '(deleted)', age: null } },
    ]);
    expect((await b.client.chat.history({ chatId, limit: 10 })).messages).toHaveLength(1);
    expect(await codeOf(send(b.client, chatId, [a.credentials.clientHash], 'hello?'))).toBe('CHAT_ENDED');
  });

  it('drops a client that stops reading with SLOW_CONSUMER without slowing the others', async () => {
    await t.destroy();
    t = await startTestServer({ OMECHAT_MAX_BUFFERED_BYTES: String(64 * 1024) });
    const { a, b, chatId } = await pair();
    // A raw subscriber that never reads its socket.
    const raw = new WebSocket(`${t.url}?connectionParams=1`);
    await new Promise((r) => raw.once('open', r));
    raw.send(JSON.stringify({ method: 'connectionParams', data: b.credentials }));
    const subscribed = new Promise((r) => raw.once('message', r)); // the stream's first (empty) batch
    raw.send(JSON.stringify({ id: 1, method: 'subscription', params: { path: 'events.stream', input: {} } }));
    await subscribed;
    (raw as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const closed = new Promise<number>((r) => raw.once('close', (code) => r(code)));
    // Enough to fill the kernel's socket buffers on loopback and then the server's.
    const big = 'x'.repeat(40_000);
    const sent = 150;
    for (let i = 0; i < sent; i++) await send(a.client, chatId, [b.credentials.clientHash], `${i}:${big}`);
    (raw as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(CLOSE_CODES.SLOW_CONSUMER);
    // Other clients were not slowed down or dropped.
    // (History pages stop at OMECHAT_HISTORY_PAGE_BYTES, 1 MiB: 150 x 40 KB takes several pages.)
    let stored = 0;
    for (let page = await b.client.chat.history({ chatId, limit: 200 }); ; page = await b.client.chat.history({ chatId, limit: 200, beforeSeq: page.messages[0]!.seq })) {
      stored += page.messages.length;
      if (!page.hasMore) break;
    }
    expect(stored).toBe(sent);
  });
});

describe('resume across a server crash', () => {
  it('loses and duplicates nothing when the server is SIGKILLed and restarted', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'omechat-kill-'));
    let server = await spawnServer(dataDir);
    try {
      const { a, b, eb, chatId } = await pair(server.url);
      for (let i = 1; i <= 3; i++) await send(a.client, chatId, [b.credentials.clientHash], `m${i}`);
      await eb.next('message.new', 3);
      await server.kill();
      await waitFor(() => b.client.state !== 'connected', 'the client to notice');
      server = await spawnServer(dataDir, server.port);
      await waitFor(() => a.client.state === 'connected' && b.client.state === 'connected', 'reconnect', 10_000);
      for (let i = 4; i <= 6; i++) await send(a.client, chatId, [b.credentials.clientHash], `m${i}`);
      // Ordered stream: a replayed m1-m3 would come before m6.
      await waitFor(() => eb.texts().includes('m6'), 'm6');
      expect(eb.texts()).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
      expect(eb.of('message.new').map((e) => e.message.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      await Promise.all(open.splice(0).map((c) => c.close()));
      await server.kill();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
