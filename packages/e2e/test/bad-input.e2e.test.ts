import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CLOSE_CODES } from '@omechat/protocol';
import { rawSocket } from './hostile/attack-harness.js';
import { signUp, startTestServer, type TestServer } from './harness.js';
import { call, codeOfError, errorOf, rawClient, type Untyped } from './raw-client.js';

/**
 * Hostile and malformed input against every procedure: each gets a typed error code
 * (`data.omechatCode`), no stack or internals, and the server keeps serving.
 */
let t: TestServer;
let authed: ReturnType<typeof rawClient>;
let anonymous: ReturnType<typeof rawClient>;

const huge = 'x'.repeat(10 * 1024 * 1024);
const big = 'x'.repeat(100 * 1024); // below the frame limit, above every field limit
const hostile: unknown[] = [
  undefined,
  null,
  42,
  'string',
  [],
  { __proto__: { admin: true } },
  JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}}'),
  { username: big, age: 20 },
  { username: 'ok_name', age: '20' },
  { username: 'ok_name', age: 1e308 },
  { username: 'ok_name', age: -1 },
  { username: 'ok_name', age: 20.5 },
  { username: 'ok_name', age: 20, extra: 'field' },
  { username: 'DROP TABLE users;--', age: 20 },
  { username: '<script>', secret: 'a'.repeat(64) },
  { username: 'ok_name', secret: big },
  { clientHash: '../../etc/passwd' },
  { clientHash: big },
  { secret: 42 },
];

beforeAll(async () => {
  t = await startTestServer();
  const { credentials, client } = await signUp(t.url);
  await client.close();
  authed = rawClient(t.url, credentials);
  anonymous = rawClient(t.url, null);
});
afterAll(async () => {
  await authed.close();
  await anonymous.close();
  await t.destroy();
});

const procedures: [string, 'mutate' | 'query'][] = [
  ['account.register', 'mutate'],
  ['account.login', 'mutate'],
  ['account.me', 'query'],
  ['account.rotateSecret', 'mutate'],
  ['account.delete', 'mutate'],
  ['clients.list', 'query'],
  ['clients.revoke', 'mutate'],
  ['match.start', 'mutate'],
  ['match.cancel', 'mutate'],
  ['chat.list', 'query'],
  ['chat.history', 'query'],
  ['chat.leave', 'mutate'],
  ['chat.typing', 'mutate'],
  ['message.send', 'mutate'],
  ['message.markRead', 'mutate'],
  ['keys.upload', 'mutate'],
  ['keys.status', 'query'],
  ['keys.bundles', 'mutate'],
  ['keys.devices', 'query'],
];
const takesNoInput = ['account.me', 'clients.list', 'match.cancel', 'chat.list', 'keys.status'];

describe('bad input', () => {
  it.each(procedures)('%s answers hostile input with typed errors', async (path, kind) => {
    for (const input of hostile) {
      if (takesNoInput.includes(path) && input === undefined) continue; // that is the valid call
      const code = await errorOf(call(authed.client, path, kind, input));
      expect(['BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'INVALID_CREDENTIALS', 'USERNAME_TAKEN', 'NOT_FOUND']).toContain(code);
    }
    expect(await authed.client.account!.me!.query()).toHaveProperty('userHash');
  });

  it('refuses out-of-range and oversized chat, message and key input with the right code', async () => {
    const chatId = 'C'.repeat(22);
    const part = (ciphertext: string) => ({ to: 'D'.repeat(22), header: 'aGVhZGVy', ciphertext });
    const cases: [string, 'mutate' | 'query', unknown, string][] = [
      ['match.start', 'mutate', { tolerance: 6 }, 'BAD_REQUEST'],
      ['match.start', 'mutate', { tolerance: 2, interests: ['a', 'b', 'c', 'd', 'e', 'f'] }, 'PAYLOAD_TOO_LARGE'],
      ['chat.history', 'query', { chatId, limit: 10_000 }, 'BAD_REQUEST'],
      ['message.send', 'mutate', { chatId, clientMessageId: 'm1', envelope: { v: 1, parts: [part('x'.repeat(70_000))] } }, 'PAYLOAD_TOO_LARGE'],
      ['message.send', 'mutate', { chatId, clientMessageId: 'm1', envelope: { v: 1, parts: [part('not base64!')] } }, 'BAD_REQUEST'],
      ['message.send', 'mutate', { chatId, clientMessageId: 'm1', envelope: { v: 1, parts: [part('abc')], plaintext: 'hi' } }, 'BAD_REQUEST'],
      ['message.markRead', 'mutate', { chatId, seq: 0 }, 'BAD_REQUEST'],
      ['keys.upload', 'mutate', { identity: { signingPub: 'short', dhPub: 'short' }, signedPrekey: {} }, 'BAD_REQUEST'],
      ['keys.bundles', 'mutate', { userHash: big }, 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [path, kind, input, expected] of cases) {
      expect(await errorOf(call(authed.client, path, kind, input)), path).toBe(expected);
    }
    expect(await authed.client.account!.me!.query()).toHaveProperty('userHash');
  });

  it('answers a bad or unauthorised event subscription with a typed error', async () => {
    const subscribe = (client: Untyped, input: unknown) =>
      new Promise<unknown>((resolve) => {
        const events = client.events as unknown as Record<string, { subscribe(i: unknown, o: object): { unsubscribe(): void } }>;
        const sub = events.stream!.subscribe(input, {
          onData: () => resolve(new Error('expected no data')),
          onError: (err: unknown) => {
            sub.unsubscribe();
            resolve(err);
          },
        });
      });
    expect(codeOfError(await subscribe(authed.client, { lastEventId: 'not-a-number' }))).toBe('BAD_REQUEST');
    expect(codeOfError(await subscribe(authed.client, { lastEventId: '1', extra: true }))).toBe('BAD_REQUEST');
    expect(codeOfError(await subscribe(anonymous.client, {}))).toBe('UNAUTHORIZED');
    expect(await authed.client.account!.me!.query()).toHaveProperty('userHash');
  });

  it('reports an oversized field as PAYLOAD_TOO_LARGE and a wrong type as BAD_REQUEST', async () => {
    expect(await errorOf(anonymous.client.account!.register!.mutate({ username: big, age: 20 }))).toBe('PAYLOAD_TOO_LARGE');
    expect(await errorOf(anonymous.client.account!.register!.mutate({ username: 'valid_name', age: 'old' }))).toBe('BAD_REQUEST');
  });

  it('answers UNAUTHORIZED before looking at the input of an authenticated procedure', async () => {
    for (const [path, kind] of procedures.filter(([p]) => !['account.register', 'account.login'].includes(p))) {
      expect(await errorOf(call(anonymous.client, path, kind, { clientHash: big }))).toBe('UNAUTHORIZED');
    }
  });

  it('answers an unknown procedure with NOT_FOUND', async () => {
    expect(await errorOf(anonymous.client.admin!.nuke!.mutate({}))).toBe('NOT_FOUND');
  });

  it('closes a socket that sends a 10 MB frame with 1009 and keeps serving others', async () => {
    const ws = new WebSocket(t.url);
    await new Promise((resolve) => ws.once('open', resolve));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(JSON.stringify({ id: 1, method: 'mutation', params: { path: 'account.register', input: { username: huge, age: 20 } } }));
    expect(await closed).toBe(1009);
    expect(await authed.client.account!.me!.query()).toHaveProperty('userHash');
  });

  it('answers malformed JSON and malformed messages once, closes that socket (4002), and stays up', async () => {
    for (const frame of ['{not json', JSON.stringify({ id: 2, method: 'nonsense' }), JSON.stringify({ id: 3, method: 'query', params: { path: 42 } }), Buffer.from([0xff, 0x00, 0xfe])]) {
      const socket = rawSocket(t.url);
      await socket.opened;
      socket.send(frame);
      expect(await socket.closed).toBe(CLOSE_CODES.PROTOCOL_ERROR);
      // One answer, and nothing internal in it.
      expect(socket.frames).toHaveLength(1);
      expect(JSON.stringify(socket.frames)).not.toMatch(/node_modules|\.ts:\d+/);
    }
    expect(await authed.client.account!.me!.query()).toHaveProperty('userHash');
    const health = await fetch(t.url.replace('ws:', 'http:').replace('/trpc', '/healthz'));
    expect(health.status).toBe(200);
  });
});
