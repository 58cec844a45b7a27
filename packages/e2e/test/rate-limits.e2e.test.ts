import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CLOSE_CODES } from '@omechat/protocol';
import { recorder, startTestServer, uniqueName, type TestServer } from './harness.js';
import { codeOf, connectFrom, envelopeTo, failure, matchedPair, rpc, signUpFrom } from './safety-harness.js';

/**
 * Each limit against a real server, with small sizes set through the environment (the
 * harness otherwise sets them far out of reach). Different loopback /24s are different
 * networks.
 */
let t: TestServer;
const open: { close(): unknown }[] = [];
const track = <C extends { close(): unknown }>(c: C) => {
  open.push(c);
  return c;
};
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await t.destroy();
});

const limited = async (promise: Promise<unknown>) => {
  const f = await failure(promise);
  expect(f.code).toBe('RATE_LIMITED');
  expect(f.details.retryAfterMs).toBeGreaterThan(0);
  return f.details.retryAfterMs!;
};

describe('rate limits', () => {
  it('registrations per network', async () => {
    t = await startTestServer({ OMECHAT_RATE_REGISTER_PER_NETWORK: '2/60' });
    const c = track(connectFrom(t.url, '127.0.1.10'));
    await c.account.register({ username: uniqueName(), age: 20 });
    await c.account.register({ username: uniqueName(), age: 20 });
    const retry = await limited(c.account.register({ username: uniqueName(), age: 20 }));
    expect(retry).toBeLessThanOrEqual(60_000);
    // The same /24 is the same network; another /24 is not.
    expect(await codeOf(track(connectFrom(t.url, '127.0.1.11')).account.register({ username: uniqueName(), age: 20 }))).toBe('RATE_LIMITED');
    await track(connectFrom(t.url, '127.0.2.10')).account.register({ username: uniqueName(), age: 20 });
  });

  it('failed logins per username, with a lockout that outlasts the window and holds from any network', async () => {
    t = await startTestServer({ OMECHAT_RATE_LOGIN_FAILURES_PER_USERNAME: '3/60/120' });
    const victim = await signUpFrom(t.url, '127.0.0.1');
    track(victim.client);
    const other = await signUpFrom(t.url, '127.0.0.1');
    track(other.client);
    const guesser = track(connectFrom(t.url, '127.0.1.20'));
    const guess = () => guesser.account.login({ username: victim.username, secret: 'g'.repeat(64) });
    for (let i = 0; i < 3; i++) expect(await codeOf(guess())).toBe('INVALID_CREDENTIALS');
    expect(await limited(guess())).toBeGreaterThan(60_000);
    // Locked: even the right secret, even from the owner's network, until the lockout ends.
    const owner = track(connectFrom(t.url, '127.0.0.1'));
    expect(await limited(owner.account.login({ username: victim.username, secret: victim.secret }))).toBeGreaterThan(60_000);
    // Other usernames are unaffected.
    await track(connectFrom(t.url, '127.0.1.20')).account.login({ username: other.username, secret: other.secret });
  });

  it('a successful login clears the username’s failures', async () => {
    t = await startTestServer({ OMECHAT_RATE_LOGIN_FAILURES_PER_USERNAME: '2/60/120' });
    const user = await signUpFrom(t.url);
    track(user.client);
    const c = track(connectFrom(t.url));
    const wrong = () => c.account.login({ username: user.username, secret: 'w'.repeat(64) });
    expect(await codeOf(wrong())).toBe('INVALID_CREDENTIALS');
    expect(await codeOf(wrong())).toBe('INVALID_CREDENTIALS');
    await track(connectFrom(t.url)).account.login({ username: user.username, secret: user.secret });
    expect(await codeOf(wrong())).toBe('INVALID_CREDENTIALS');
    expect(await codeOf(wrong())).toBe('INVALID_CREDENTIALS');
  });

  it('failed logins per network, across usernames', async () => {
    t = await startTestServer({ OMECHAT_RATE_LOGIN_FAILURES_PER_NETWORK: '3/60/120' });
    const user = await signUpFrom(t.url, '127.0.0.1');
    track(user.client);
    const sprayer = track(connectFrom(t.url, '127.0.1.30'));
    for (let i = 0; i < 3; i++) {
      expect(await codeOf(sprayer.account.login({ username: uniqueName('nobody'), secret: 's'.repeat(64) }))).toBe('INVALID_CREDENTIALS');
    }
    await limited(sprayer.account.login({ username: uniqueName('nobody'), secret: 's'.repeat(64) }));
    // The whole network is locked out of logging in, right secret or not; others are not.
    await limited(track(connectFrom(t.url, '127.0.1.31')).account.login({ username: user.username, secret: user.secret }));
    await track(connectFrom(t.url, '127.0.0.1')).account.login({ username: user.username, secret: user.secret });
  });

  it('messages per device: a burst', async () => {
    t = await startTestServer({ OMECHAT_RATE_MESSAGES_BURST: '3/60' });
    const { a, b, eb, chatId } = await matchedPair(t.url);
    track(a.client);
    track(b.client);
    const send = (from: typeof a, to: typeof b, text: string) =>
      from.client.message.send({ chatId, envelope: envelopeTo(to.credentials.clientHash, text) });
    for (const text of ['1', '2', '3']) await send(a, b, text);
    const retry = await limited(send(a, b, '4'));
    expect(retry).toBeLessThanOrEqual(60_000);
    await send(b, a, 'the peer is not limited by a');
    await eb.next('message.new', 3);
    expect(eb.texts()).toEqual(['1', '2', '3']);
    // The refused message was never stored: the server holds a's three and b's one.
    const stored = (await b.client.chat.history({ chatId, limit: 10 })).messages;
    expect(stored.map((m) => m.senderUserHash)).toEqual([a.userHash, a.userHash, a.userHash, b.userHash]);
  });

  it('messages per device: the sustained rate', async () => {
    t = await startTestServer({ OMECHAT_RATE_MESSAGES_BURST: '100/1', OMECHAT_RATE_MESSAGES_SUSTAINED: '5/300' });
    const { a, b, chatId } = await matchedPair(t.url);
    track(a.client);
    track(b.client);
    for (let i = 0; i < 5; i++) await a.client.message.send({ chatId, envelope: envelopeTo(b.credentials.clientHash, `m${i}`) });
    expect(await limited(a.client.message.send({ chatId, envelope: envelopeTo(b.credentials.clientHash, 'm5') }))).toBeGreaterThan(1000);
  });

  it('match starts per device', async () => {
    t = await startTestServer({ OMECHAT_RATE_MATCH_STARTS: '2/60' });
    const user = await signUpFrom(t.url);
    track(user.client);
    await user.client.match.start({ tolerance: 0 });
    await user.client.match.start({ tolerance: 1 });
    await limited(user.client.match.start({ tolerance: 2 }));
    const other = await signUpFrom(t.url);
    track(other.client);
    await other.client.match.start({ tolerance: 0 });
  });

  it('reports per user', async () => {
    t = await startTestServer({ OMECHAT_RATE_REPORTS_PER_USER: '1/3600' });
    const first = await matchedPair(t.url);
    track(first.a.client);
    track(first.b.client);
    await rpc(first.b.client).safety.report.mutate({ chatId: first.chatId, reason: 'spam' });
    await first.b.client.chat.leave(first.chatId);
    const c = await signUpFrom(t.url);
    track(c.client);
    const ec = recorder(c.client);
    await c.client.eventsLive();
    await first.b.client.match.start({ tolerance: 0 });
    await c.client.match.start({ tolerance: 0 });
    const { chatId } = await ec.next('match.found');
    await limited(rpc(first.b.client).safety.report.mutate({ chatId, reason: 'spam' }));
    await rpc(c.client).safety.report.mutate({ chatId, reason: 'spam' });
  });

  it('new connections per network: the one over the limit is closed with 4029', async () => {
    t = await startTestServer({ OMECHAT_RATE_CONNECTIONS_PER_NETWORK: '3/60' });
    const socket = (localAddress: string) => {
      const ws = new WebSocket(t.url, { localAddress });
      track({ close: () => ws.terminate() });
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      return { ws, closed };
    };
    const allowed = [socket('127.0.1.40'), socket('127.0.1.41'), socket('127.0.1.42')];
    await Promise.all(allowed.map(({ ws }) => new Promise((r) => ws.once('open', r))));
    const over = socket('127.0.1.43');
    expect(await over.closed).toBe(CLOSE_CODES.RATE_LIMITED);
    // The allowed ones are still served: each answers a call made after the refusal.
    await Promise.all(
      allowed.map(({ ws }) => {
        const answered = new Promise((r) => ws.once('message', r));
        ws.send(JSON.stringify({ id: 1, method: 'query', params: { path: 'no.such', input: null } }));
        return answered;
      }),
    );
    expect(allowed.every(({ ws }) => ws.readyState === WebSocket.OPEN)).toBe(true);
    // Another network connects and is served.
    const elsewhere = track(connectFrom(t.url, '127.0.2.40'));
    await elsewhere.account.register({ username: uniqueName(), age: 20 });
  });

  it('hold across server processes that share Redis', async () => {
    const shared = {
      OMECHAT_RATE_LIMIT_STORE: 'redis',
      OMECHAT_REDIS_URL: process.env.OMECHAT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      // Fresh per run, so counts left in Redis by earlier runs belong to other keys.
      OMECHAT_NETWORK_KEY: randomBytes(32).toString('hex'),
      OMECHAT_RATE_REGISTER_PER_NETWORK: '2/60',
    };
    t = await startTestServer(shared);
    const other = await startTestServer(shared);
    track({ close: () => other.destroy() });
    await track(connectFrom(t.url)).account.register({ username: uniqueName(), age: 20 });
    await track(connectFrom(other.url)).account.register({ username: uniqueName(), age: 20 });
    await limited(track(connectFrom(t.url)).account.register({ username: uniqueName(), age: 20 }));
    await limited(track(connectFrom(other.url)).account.register({ username: uniqueName(), age: 20 }));
  });

  it('are off with OMECHAT_RATE_LIMIT_STORE=off, for benchmarks', async () => {
    t = await startTestServer({ OMECHAT_RATE_LIMIT_STORE: 'off', OMECHAT_RATE_REGISTER_PER_NETWORK: '1/60' });
    const c = track(connectFrom(t.url));
    for (let i = 0; i < 3; i++) await c.account.register({ username: uniqueName(), age: 20 });
  });
});
