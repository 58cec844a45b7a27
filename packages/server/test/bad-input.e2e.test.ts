import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { signUp, startTestServer, type TestServer } from './harness.js';
import { call, errorOf, rawClient } from './raw-client.js';

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
];

describe('bad input', () => {
  it.each(procedures)('%s answers hostile input with typed errors', async (path, kind) => {
    const takesInput = !['account.me', 'account.rotateSecret', 'clients.list'].includes(path);
    for (const input of hostile) {
      if (!takesInput && input === undefined) continue; // that is the valid call
      const code = await errorOf(call(authed.client, path, kind, input));
      expect(['BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'INVALID_CREDENTIALS', 'USERNAME_TAKEN', 'NOT_FOUND']).toContain(code);
    }
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

  it('answers malformed JSON and malformed messages without dropping the server', async () => {
    const ws = new WebSocket(t.url);
    await new Promise((resolve) => ws.once('open', resolve));
    const replies: string[] = [];
    ws.on('message', (data: Buffer) => replies.push(data.toString()));
    ws.send('{not json');
    ws.send(JSON.stringify({ id: 2, method: 'nonsense' }));
    ws.send(JSON.stringify({ id: 3, method: 'query', params: { path: 42 } }));
    ws.send(Buffer.from([0xff, 0x00, 0xfe]));
    await new Promise((r) => setTimeout(r, 200));
    expect(replies.length).toBeGreaterThan(0);
    for (const r of replies) expect(r).not.toMatch(/node_modules|\.ts:\d+/);
    ws.close();
    expect(await authed.client.account!.me!.query()).toHaveProperty('userHash');
    const health = await fetch(t.url.replace('ws:', 'http:').replace('/trpc', '/healthz'));
    expect(health.status).toBe(200);
  });
});
