import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, startTestServer, type TestServer } from './harness.js';
import { call, codeOfError, errorOf, rawClient } from './raw-client.js';
import { ADMIN_TOKEN } from './safety-harness.js';

/**
 * Hostile and malformed input against the safety and moderation procedures: each gets a
 * typed error code, no internals, and the server keeps serving. (bad-input.e2e.test.ts does
 * the same for the account procedures.)
 */
let t: TestServer;
let user: ReturnType<typeof rawClient>;
let anonymous: ReturnType<typeof rawClient>;
let admin: ReturnType<typeof rawClient>;

const big = 'x'.repeat(100 * 1024);
const hostile: unknown[] = [
  undefined,
  null,
  42,
  'string',
  [],
  { __proto__: { admin: true } },
  JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}}'),
  { userHash: '../../etc/passwd' },
  { userHash: big },
  { userHash: 'A'.repeat(22), extra: 1 },
  { chatId: 'A'.repeat(22), reason: 'rude' },
  { chatId: 'A'.repeat(22), reason: 'spam', note: big },
  { chatId: 'A'.repeat(22), reason: 'spam', disclosed: 'all of it' },
  { chatId: 'A'.repeat(22), reason: 'spam', disclosed: [{ seq: -1, text: 'x' }] },
  { chatId: 'A'.repeat(22), reason: 'spam', disclosed: [{ seq: 1.5, text: 'x' }] },
  { reportId: '1; DROP TABLE reports', resolution: 'actioned' },
  { reportId: 1, resolution: 'lol' },
  { reportId: 1e308, resolution: 'dismissed' },
  { layer: 'planet', target: 'A'.repeat(22), reason: 'x', expiresAt: null },
  { layer: 'network', target: '127.0.0.1', reason: 'x', expiresAt: null },
  { layer: 'account', target: 'A'.repeat(22), reason: '', expiresAt: null },
  { layer: 'account', target: 'A'.repeat(22), reason: big, expiresAt: null },
  { layer: 'device', target: 'A'.repeat(22), reason: 'x', expiresAt: 'tomorrow' },
  { layer: 'device', target: 'A'.repeat(22), reason: 'x' },
  { banId: -3 },
  { banId: 'all' },
  { status: 'everything' },
  { limit: 1e9 },
  { limit: -1 },
  { beforeId: 0 },
];

beforeAll(async () => {
  t = await startTestServer({ OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN });
  const { credentials, client } = await signUp(t.url);
  await client.close();
  user = rawClient(t.url, credentials);
  anonymous = rawClient(t.url, null);
  admin = rawClient(t.url, { adminToken: ADMIN_TOKEN });
});
afterAll(async () => {
  await user.close();
  await anonymous.close();
  await admin.close();
  await t.destroy();
});

const userProcedures: [string, 'mutate' | 'query'][] = [
  ['safety.block', 'mutate'],
  ['safety.unblock', 'mutate'],
  ['safety.blocks', 'query'],
  ['safety.report', 'mutate'],
];
const adminProcedures: [string, 'mutate' | 'query'][] = [
  ['admin.reports.list', 'query'],
  ['admin.reports.resolve', 'mutate'],
  ['admin.bans.create', 'mutate'],
  ['admin.bans.revoke', 'mutate'],
  ['admin.bans.list', 'query'],
  ['admin.audit.list', 'query'],
  ['admin.users.get', 'query'],
];
/** Procedures for which some of the inputs above are valid (lists take optional filters). */
const acceptsSome = new Set(['safety.blocks', 'admin.reports.list', 'admin.bans.list', 'admin.audit.list']);

const allowed = ['BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'NOT_FOUND', 'FORBIDDEN'];

describe('bad input to safety and moderation procedures', () => {
  it.each([...userProcedures.map((p) => [...p, 'user'] as const), ...adminProcedures.map((p) => [...p, 'admin'] as const)])(
    '%s answers hostile input with typed errors',
    async (path, kind, who) => {
      const client = who === 'user' ? user.client : admin.client;
      for (const input of hostile) {
        let code = 'ok';
        try {
          await call(client, path, kind, input);
        } catch (err) {
          code = codeOfError(err);
        }
        if (code === 'ok') expect(acceptsSome.has(path), `${path} accepted ${JSON.stringify(input)}`).toBe(true);
        else expect(allowed, `${path} ${JSON.stringify(input)?.slice(0, 80)}`).toContain(code);
      }
    },
  );

  it('answers UNAUTHORIZED before looking at the input, to anonymous callers and, for admin.*, to users', async () => {
    for (const [path, kind] of userProcedures) expect(await errorOf(call(anonymous.client, path, kind, { userHash: big }))).toBe('UNAUTHORIZED');
    for (const [path, kind] of adminProcedures) {
      expect(await errorOf(call(anonymous.client, path, kind, { reportId: big }))).toBe('UNAUTHORIZED');
      expect(await errorOf(call(user.client, path, kind, { reportId: big }))).toBe('UNAUTHORIZED');
    }
  });

  it('reports an oversized field as PAYLOAD_TOO_LARGE and a wrong type as BAD_REQUEST', async () => {
    const chatId = 'A'.repeat(22);
    expect(await errorOf(call(user.client, 'safety.report', 'mutate', { chatId, reason: 'spam', note: big }))).toBe('PAYLOAD_TOO_LARGE');
    expect(await errorOf(call(user.client, 'safety.report', 'mutate', { chatId, reason: 42 }))).toBe('BAD_REQUEST');
    expect(await errorOf(call(admin.client, 'admin.bans.create', 'mutate', { layer: 'account', target: 'A'.repeat(22), reason: big, expiresAt: null }))).toBe(
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('keeps serving afterwards', async () => {
    expect(await call(user.client, 'account.me', 'query', undefined)).toHaveProperty('userHash');
    expect(await call(admin.client, 'admin.bans.list', 'query', undefined)).toEqual([]);
  });
});
