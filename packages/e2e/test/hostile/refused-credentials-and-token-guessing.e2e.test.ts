import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CLOSE_CODES } from '@omechat/protocol';
import { networkKeyOf, networkPrefix } from '@omechat/server/testing';
import { connect, signUp, startTestServer, type TestServer } from '../harness.js';
import { ADMIN_TOKEN, adminClient, closeCodeOf, failure } from '../safety-harness.js';

/**
 * Issue 10: refused connectionParams close the socket (4001, or 4029 for a network locked
 * out of the admin API), admin-token guessing is rate limited with an audit entry, and no
 * client action writes more than a bounded number of log lines.
 */
const NETWORK_KEY = 'refused-network-key-'.padEnd(40, 'k');
let t: TestServer;
afterEach(async () => {
  await t.destroy();
});

/** A bare socket that sends connectionParams as the tRPC client does, and reports its close. */
function socket(url: string, params?: unknown, localAddress = '127.0.0.1') {
  const ws = new WebSocket(params === undefined ? url : `${url}?connectionParams=1`, { localAddress });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  opened.then(() => ws.on('error', () => undefined), () => undefined); // a reset after open shows as the close
  if (params !== undefined) void opened.then(() => ws.send(JSON.stringify({ method: 'connectionParams', data: params })));
  return { ws, opened, closed };
}

describe('refused connectionParams', () => {
  it('close the socket with 4001 even when the client calls nothing', async () => {
    t = await startTestServer();
    const forged = { clientHash: 'A'.repeat(22), accessToken: 'B'.repeat(43) };
    // (Params that are not an object of strings never reach OmeChat: tRPC refuses them itself.)
    for (const params of [forged, { something: 'else' }, { adminToken: 'short' }]) {
      expect((await socket(t.url, params).closed).code).toBe(CLOSE_CODES.UNAUTHORIZED);
    }
    // Through the SDK: closed for good, reason 'unauthorized', without a single call.
    const sdk = connect(t.url, forged as never);
    expect(await closeCodeOf(sdk)).toBe('unauthorized');
    await sdk.close();
  });

  it('answer a call with UNAUTHORIZED first, then close with 4001; revoked and deleted devices alike', async () => {
    t = await startTestServer();
    const user = await signUp(t.url);
    const phone = connect(t.url);
    const creds = await phone.account.login({ username: user.username, secret: user.secret });
    await user.client.clients.revoke({ clientHash: creds.clientHash, secret: user.secret });
    const revoked = connect(t.url, { clientHash: creds.clientHash, accessToken: creds.accessToken });
    const closed = closeCodeOf(revoked);
    expect((await failure(revoked.account.me())).code).toBe('UNAUTHORIZED');
    expect(await closed).toBe('unauthorized');

    await user.client.account.delete({ secret: user.secret });
    expect((await socket(t.url, user.credentials).closed).code).toBe(CLOSE_CODES.UNAUTHORIZED);
    // No connectionParams at all is fine: signed out, not refused.
    const anonymous = socket(t.url);
    await anonymous.opened;
    expect(anonymous.ws.readyState).toBe(WebSocket.OPEN);
    anonymous.ws.close();
    await Promise.all([phone.close(), revoked.close(), user.client.close()]);
  });
});

describe('admin-token guessing', () => {
  it('is limited per network with a lockout, a typed RATE_LIMITED and an audit entry', async () => {
    t = await startTestServer({ OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN, OMECHAT_NETWORK_KEY: NETWORK_KEY, OMECHAT_RATE_ADMIN_FAILURES_PER_NETWORK: '3/900/900' });
    const guesser = '127.0.3.7';
    const attempt = async (token: string, from = guesser) => {
      const admin = adminClient(t.url, { adminToken: token }, from);
      try {
        return await failure(admin.trpc.admin.bans.list.query());
      } finally {
        await admin.close();
      }
    };
    const wrong = (n: number) => `wrong-admin-token-${n}-`.padEnd(48, 'z');
    for (let i = 0; i < 3; i++) expect((await attempt(wrong(i))).code).toBe('UNAUTHORIZED');
    const over = await attempt(wrong(3));
    expect(over.code).toBe('RATE_LIMITED');
    expect(over.details.retryAfterMs).toBeGreaterThan(800_000);
    // Locked out: even the right token is refused from that network, and its socket closes with 4029.
    expect((await attempt(ADMIN_TOKEN)).code).toBe('RATE_LIMITED');
    expect((await socket(t.url, { adminToken: ADMIN_TOKEN }, guesser).closed).code).toBe(CLOSE_CODES.RATE_LIMITED);
    // A wrong token from elsewhere closes with 4001; the moderator on another network carries on.
    expect((await socket(t.url, { adminToken: wrong(9) }).closed).code).toBe(CLOSE_CODES.UNAUTHORIZED);
    const moderator = adminClient(t.url);
    const [lockout, ...rest] = await moderator.trpc.admin.audit.list.query();
    expect(lockout).toMatchObject({
      actor: 'system',
      action: 'admin.lockout',
      subject: `network:${networkKeyOf(NETWORK_KEY, networkPrefix(guesser))}`,
      details: { lockoutMs: expect.any(Number) as number },
    });
    expect(rest.filter((e) => e.action === 'admin.lockout')).toEqual([]); // one entry per lockout, not per attempt
    await moderator.close();
  });
});

describe('log lines a client can cause', () => {
  it('stay few per action, and none at warn or error level, whatever the client sends', async () => {
    t = await startTestServer({ OMECHAT_MAX_PAYLOAD_BYTES: String(16 * 1024) });
    const before = t.logs.length;
    let connections = 0;
    // Frames over the payload limit: each closes its socket with 1009.
    for (let i = 0; i < 25; i++) {
      const s = socket(t.url);
      connections++;
      await s.opened;
      s.ws.send('x'.repeat(17 * 1024));
      expect((await s.closed).code).toBe(1009);
    }
    // Garbage of every kind: not JSON, JSON that is no request, binary. Each closes its socket (4002).
    for (const junk of ['not json', JSON.stringify({ id: 1, jsonrpc: '2.0' }), Buffer.from([0xff, 0x00, 1])]) {
      for (let i = 0; i < 10; i++) {
        const s = socket(t.url);
        connections++;
        await s.opened;
        s.ws.send(junk);
        expect((await s.closed).code).toBe(CLOSE_CODES.PROTOCOL_ERROR);
      }
    }
    // Unknown procedures are answered, each, on a socket that stays open.
    const noisy = socket(t.url);
    connections++;
    await noisy.opened;
    const answered = new Promise<void>((resolve) => noisy.ws.on('message', (data: Buffer) => data.toString().includes('"end"') && resolve()));
    for (let i = 0; i < 50; i++) noisy.ws.send(JSON.stringify({ id: 1000 + i, method: 'query', params: { path: 'no.such', input: null } }));
    noisy.ws.send(JSON.stringify({ id: 'end', method: 'query', params: { path: 'no.such', input: null } }));
    await answered;
    noisy.ws.close();
    await noisy.closed;
    // Refused credentials (each socket waits out the grace that lets a typed answer through).
    connections += 20;
    await Promise.all(Array.from({ length: 20 }, () => socket(t.url, { clientHash: 'C'.repeat(22), accessToken: 'D'.repeat(43) }).closed));
    const lines = t.logs.slice(before).map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
    // At debug level: at most "connection ready" and one line about a protocol error per socket.
    expect(lines.length).toBeLessThanOrEqual(2 * connections);
  });
});
