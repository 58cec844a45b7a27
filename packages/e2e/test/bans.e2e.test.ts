import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CLOSE_CODES } from '@omechat/protocol';
import { networkKeyOf, networkPrefix } from '@omechat/server/testing';
import { recorder, uniqueName, waitFor, type TestServer, startTestServer } from './harness.js';
import {
  ADMIN_TOKEN,
  adminClient,
  closeCodeOf,
  codeOf,
  connectFrom,
  envelopeTo,
  failure,
  matchedPair,
  rpc,
  signUpFrom,
} from './safety-harness.js';

const NETWORK_KEY = 'test-network-key-'.padEnd(40, 'n');
const netOf = (address: string) => networkKeyOf(NETWORK_KEY, networkPrefix(address));

let t: TestServer;
const open: { close(): unknown }[] = [];
const track = <C extends { close(): unknown }>(c: C) => {
  open.push(c);
  return c;
};
async function server(env: Record<string, string> = {}) {
  t = await startTestServer({ OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN, OMECHAT_NETWORK_KEY: NETWORK_KEY, ...env });
  const admin = track(adminClient(t.url));
  return { admin: admin.trpc };
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await t.destroy();
});

const signUp = async (from = '127.0.0.1', age = 20) => {
  const user = await signUpFrom(t.url, from, age);
  track(user.client);
  await waitFor(() => user.client.state === 'connected', 'connected');
  return user;
};
const inAnHour = () => Date.now() + 3600_000;

describe('the admin token', () => {
  it('is required, and no user token or wrong token stands in for it', async () => {
    await server();
    const user = await signUp();
    // A device's credentials: signed in as a user, not as a moderator.
    expect(await codeOf(rpc(user.client).admin.bans.list.query())).toBe('UNAUTHORIZED');
    const asParams: Record<string, string>[] = [
      { adminToken: 'wrong-token-'.padEnd(48, 'y') },
      { adminToken: user.credentials.accessToken.padEnd(48, 'A') },
      { adminToken: ADMIN_TOKEN, moderator: 'System' }, // the reserved issuer of automatic suspensions
      { clientHash: user.credentials.clientHash, accessToken: user.credentials.accessToken, adminToken: ADMIN_TOKEN },
    ];
    for (const params of asParams) {
      const wrong = track(adminClient(t.url, params));
      expect(await codeOf(wrong.trpc.admin.bans.list.query())).toBe('UNAUTHORIZED');
    }
    const anonymous = track(adminClient(t.url, null));
    expect(await codeOf(anonymous.trpc.admin.reports.list.query())).toBe('UNAUTHORIZED');
    const right = track(adminClient(t.url));
    expect(await right.trpc.admin.bans.list.query()).toEqual([]);
  });

  it('without OMECHAT_ADMIN_TOKEN the admin API is off for everybody', async () => {
    t = await startTestServer();
    const admin = track(adminClient(t.url));
    expect(await codeOf(admin.trpc.admin.bans.list.query())).toBe('FORBIDDEN');
    expect(await codeOf(admin.trpc.admin.audit.list.query())).toBe('FORBIDDEN');
  });
});

describe('account bans', () => {
  it('close the live connections with 4004, withdraw the ticket, end chats for peers, and refuse with layer and expiry', async () => {
    const { admin } = await server();
    const { a, b, eb, chatId } = await matchedPair(t.url);
    track(a.client);
    track(b.client);
    await a.client.chat.leave(chatId);
    await eb.next('chat.ended');
    // A second chat, still active, and a waiting ticket.
    const { a: c, ea: ec } = await (async () => {
      const other = await signUp();
      const er = recorder(other.client);
      await other.client.eventsLive();
      await b.client.match.start({ tolerance: 0 });
      await other.client.match.start({ tolerance: 0 });
      await er.next('match.found');
      return { a: other, ea: er };
    })();
    await b.client.match.start({ tolerance: 5 });
    expect(await t.core.deps.matcher.has(b.userHash)).toBe(true);

    const closed = closeCodeOf(b.client);
    const expiresAt = inAnHour();
    const ban = await admin.admin.bans.create.mutate({ layer: 'account', target: b.userHash, reason: 'threats (case 17)', expiresAt });
    expect(ban).toMatchObject({ layer: 'account', target: b.userHash, issuer: 'mod-ann', expiresAt, active: true, parentBanId: null });

    expect(await closed).toBe('banned');
    expect(await t.core.deps.matcher.has(b.userHash)).toBe(false);
    expect(await ec.next('chat.ended')).toMatchObject({ reason: 'banned' });
    expect(ec.of('chat.ended')).toHaveLength(1);
    expect(await codeOf(c.client.message.send({ chatId: ec.of('match.found')[0]!.chatId, envelope: envelopeTo(b.credentials.clientHash, 'x') }))).toBe('CHAT_ENDED');

    // Coming back with the same credentials: a typed error, then the socket closes.
    const again = track(connectFrom(t.url, '127.0.0.1', b.credentials));
    const refused = await failure(again.account.me());
    expect(refused).toMatchObject({ code: 'BANNED', details: { banLayer: 'account', banExpiresAt: expiresAt } });
    expect(Object.keys(refused.details).sort()).toEqual(['banExpiresAt', 'banLayer']);
    expect(refused.message).not.toMatch(/mod-ann|threats|case 17/);
    expect(await closeCodeOf(again)).toBe('banned');
  });

  it('also ban the devices the account had, and a new device on the account is refused', async () => {
    const { admin } = await server();
    const user = await signUp('127.0.0.1');
    const laptop = track(connectFrom(t.url, '127.0.0.1'));
    await laptop.account.login({ username: user.username, secret: user.secret });
    await admin.admin.bans.create.mutate({ layer: 'account', target: user.userHash, reason: 'spam', expiresAt: null });

    const bans = await admin.admin.bans.list.query({ layer: 'device' });
    expect(bans.map((b) => b.target).sort()).toEqual([user.credentials.clientHash, laptop.credentials!.clientHash].sort());
    expect(new Set(bans.map((b) => b.parentBanId)).size).toBe(1);

    // Evasion: a fresh device on another network, with the right secret.
    const elsewhere = track(connectFrom(t.url, '127.0.2.9'));
    expect(await failure(elsewhere.account.login({ username: user.username, secret: user.secret }))).toMatchObject({
      code: 'BANNED',
      details: { banLayer: 'account', banExpiresAt: null },
    });
    // A wrong secret still says only that: the ban is not revealed to someone without it.
    expect(await codeOf(elsewhere.account.login({ username: user.username, secret: 'x'.repeat(64) }))).toBe('INVALID_CREDENTIALS');
    expect((await t.core.deps.storage.accounts.listClients(user.userHash)).length).toBe(2);
  });

  it('end when revoked, the devices they brought with them too', async () => {
    const { admin } = await server();
    const user = await signUp();
    const ban = await admin.admin.bans.create.mutate({ layer: 'account', target: user.userHash, reason: 'mistake', expiresAt: null });
    const revoked = await admin.admin.bans.revoke.mutate({ banId: ban.banId, reason: 'wrong person' });
    expect(revoked).toMatchObject({ banId: ban.banId, active: false, revokedBy: 'mod-ann' });
    expect(await admin.admin.bans.list.query()).toEqual([]);
    expect(await codeOf(admin.admin.bans.revoke.mutate({ banId: ban.banId }))).toBe('NOT_FOUND');

    const back = track(connectFrom(t.url, '127.0.0.1', user.credentials));
    expect(await back.account.me()).toMatchObject({ userHash: user.userHash });
    const fresh = track(connectFrom(t.url, '127.0.0.1'));
    await fresh.account.login({ username: user.username, secret: user.secret });
  });

  it('expire by themselves', async () => {
    const { admin } = await server();
    const user = await signUp();
    const expiresAt = inAnHour();
    await admin.admin.bans.create.mutate({ layer: 'account', target: user.userHash, reason: 'cool down', expiresAt });
    const during = track(connectFrom(t.url, '127.0.0.1'));
    expect(await failure(during.account.login({ username: user.username, secret: user.secret }))).toMatchObject({
      code: 'BANNED',
      details: { banExpiresAt: expiresAt },
    });
    t.clock.advance(expiresAt - t.clock.now() + 1); // the server's clock, not a sleep
    const after = track(connectFrom(t.url, '127.0.0.1'));
    await after.account.login({ username: user.username, secret: user.secret });
    expect((await after.account.me()).userHash).toBe(user.userHash);
    const listed = await admin.admin.bans.list.query({ status: 'all' });
    expect(listed.filter((b) => b.layer === 'account')).toMatchObject([{ active: false }]);
  });

  it('refuse an unknown account, an unknown device or an identity key, and a past expiry', async () => {
    const { admin } = await server();
    const user = await signUp();
    expect(await codeOf(admin.admin.bans.create.mutate({ layer: 'account', target: 'NoSuchUser_123456789', reason: 'x', expiresAt: null }))).toBe('NOT_FOUND');
    expect(await codeOf(admin.admin.bans.create.mutate({ layer: 'device', target: 'NoSuchDevice_12345678', reason: 'x', expiresAt: null }))).toBe('NOT_FOUND');
    // A device's identity key: refused with a message that says why, not accepted to do nothing.
    await user.client.encryptionReady();
    const [device] = (await rpc(user.client).keys.devices.query({ userHash: user.userHash })).devices;
    const refused = await failure(admin.admin.bans.create.mutate({ layer: 'device', target: device!.identity.signingPub, reason: 'x', expiresAt: null }));
    expect(refused).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('identity keys cannot be banned') as string });
    expect(await admin.admin.bans.list.query()).toEqual([]);
    expect(await codeOf(admin.admin.bans.create.mutate({ layer: 'account', target: user.userHash, reason: 'x', expiresAt: Date.now() - 1 }))).toBe('BAD_REQUEST');
  });
});

describe('device bans', () => {
  it('close that device, refuse login and registration from it, and leave the account’s other devices alone', async () => {
    const { admin } = await server();
    const user = await signUp();
    const other = track(connectFrom(t.url, '127.0.0.1'));
    await other.account.login({ username: user.username, secret: user.secret });
    await waitFor(() => other.state === 'connected', 'second device');
    const closed = closeCodeOf(user.client);
    await admin.admin.bans.create.mutate({ layer: 'device', target: user.credentials.clientHash, reason: 'ban evasion', expiresAt: null });
    expect(await closed).toBe('banned');
    expect((await other.account.me()).userHash).toBe(user.userHash);

    // Evasion from the banned device: its credentials still identify it.
    const device = track(connectFrom(t.url, '127.0.0.1', user.credentials));
    expect(await failure(device.account.login({ username: user.username, secret: user.secret }))).toMatchObject({
      code: 'BANNED',
      details: { banLayer: 'device' },
    });
    const device2 = track(connectFrom(t.url, '127.0.0.1', user.credentials));
    expect(await failure(device2.account.register({ username: uniqueName(), age: 20 }))).toMatchObject({
      code: 'BANNED',
      details: { banLayer: 'device' },
    });
  });
});

describe('network bans', () => {
  it('close connections from the network and stop new accounts and logins from anywhere in its /24', async () => {
    const { admin } = await server();
    const user = await signUp('127.0.1.7');
    const bystander = await signUp('127.0.0.1');
    const seen = await admin.admin.users.get.query({ userHash: user.userHash });
    expect(seen.networks.map((n) => n.networkKey)).toEqual([netOf('127.0.1.7')]);
    expect(JSON.stringify(seen)).not.toContain('127.0.1');

    const anonymous = track(connectFrom(t.url, '127.0.1.99'));
    await waitFor(() => anonymous.state === 'connected', 'anonymous connection');
    // A moderator on the same network: never locked out of lifting the ban.
    const moderator = track(adminClient(t.url, undefined, '127.0.1.50')).trpc;
    await moderator.admin.bans.list.query();
    const closed = [closeCodeOf(user.client), closeCodeOf(anonymous)];
    await admin.admin.bans.create.mutate({ layer: 'network', target: seen.networks[0]!.networkKey, reason: 'raid', expiresAt: inAnHour() });
    expect(await Promise.all(closed)).toEqual(['banned', 'banned']);
    expect(await moderator.admin.bans.list.query()).toHaveLength(1);

    // Evasion: a new account from the same /24, and a login there to an account that is not banned.
    const sameNetwork = track(connectFrom(t.url, '127.0.1.8'));
    expect(await failure(sameNetwork.account.register({ username: uniqueName(), age: 20 }))).toMatchObject({
      code: 'BANNED',
      details: { banLayer: 'network' },
    });
    const login = track(connectFrom(t.url, '127.0.1.200'));
    expect(await codeOf(login.account.login({ username: bystander.username, secret: bystander.secret }))).toBe('BANNED');

    // Other networks carry on; the user may too, from elsewhere (only the network is banned).
    expect((await bystander.client.account.me()).userHash).toBe(bystander.userHash);
    const elsewhere = track(connectFrom(t.url, '127.0.2.1'));
    await elsewhere.account.register({ username: uniqueName(), age: 20 });
    const home = track(connectFrom(t.url, '127.0.0.1', user.credentials));
    expect((await home.account.me()).userHash).toBe(user.userHash);

    // Only keyed hashes were kept: no address in the logs or the database files.
    await t.close();
    expect(t.logs.join('\n')).not.toMatch(/127\.0\.[12]\./);
    for (const file of readdirSync(t.dataDir)) {
      expect(readFileSync(join(t.dataDir, file)).toString('latin1')).not.toMatch(/127\.0\.[12]\./);
    }
  });

  it('believe X-Forwarded-For only from a trusted proxy', async () => {
    const { admin } = await server({ OMECHAT_TRUSTED_PROXIES: '127.0.0.9' });
    await admin.admin.bans.create.mutate({ layer: 'network', target: netOf('127.0.1.7'), reason: 'raid', expiresAt: null });
    const register = (from: string, forwardedFor: string) =>
      track(connectFrom(t.url, from, null, { 'X-Forwarded-For': forwardedFor })).account.register({ username: uniqueName(), age: 20 });

    // A client cannot claim another address, nor hide behind one.
    expect(await register('127.0.0.1', '127.0.1.7')).toHaveProperty('userHash');
    expect(await codeOf(register('127.0.1.7', '8.8.8.8'))).toBe('BANNED');
    // From the trusted proxy, the hop it appended is the client.
    expect(await codeOf(register('127.0.0.9', '127.0.1.7'))).toBe('BANNED');
    expect(await register('127.0.0.9', '127.0.1.7, 10.1.2.3')).toHaveProperty('userHash');
  });

  it('outlive the account they were issued against', async () => {
    const { admin } = await server();
    const user = await signUp('127.0.1.20');
    const ban = await admin.admin.bans.create.mutate({ layer: 'network', target: netOf('127.0.1.20'), reason: 'raid', expiresAt: null });
    const elsewhere = track(connectFrom(t.url, '127.0.0.1', user.credentials));
    await elsewhere.account.delete({ secret: user.secret });
    expect((await admin.admin.bans.list.query()).map((b) => b.banId)).toEqual([ban.banId]);
    expect(await codeOf(track(connectFrom(t.url, '127.0.1.21')).account.register({ username: user.username, age: 20 }))).toBe('BANNED');
  });
});

describe('at connect', () => {
  it('a banned client gets its typed error on the first call, then the socket closes with 4004', async () => {
    const { admin } = await server();
    const user = await signUp();
    await admin.admin.bans.create.mutate({ layer: 'account', target: user.userHash, reason: 'x', expiresAt: null });
    const ws = new WebSocket(`${t.url}?connectionParams=1`);
    const messages: string[] = [];
    ws.on('message', (data: Buffer) => messages.push(data.toString()));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ method: 'connectionParams', data: user.credentials }));
    // Calls nothing: the server closes it anyway after a grace period.
    expect(await closed).toBe(CLOSE_CODES.BANNED);
    expect(messages).toEqual([]);
  });
});

describe('the audit log', () => {
  it('records every moderator action, newest first, and offers no way to change it', async () => {
    const { admin } = await server();
    const user = await signUp();
    const ban = await admin.admin.bans.create.mutate({ layer: 'device', target: user.credentials.clientHash, reason: 'one', expiresAt: null });
    await admin.admin.bans.revoke.mutate({ banId: ban.banId, reason: 'appeal upheld' });
    const other = track(adminClient(t.url, { adminToken: ADMIN_TOKEN, moderator: 'mod-bob' }));
    await other.trpc.admin.bans.create.mutate({ layer: 'account', target: user.userHash, reason: 'two', expiresAt: null });

    const log = await admin.admin.audit.list.query();
    expect(log.map((e) => [e.action, e.actor, e.subject])).toEqual([
      ['ban.create', 'mod-bob', `account:${user.userHash}`],
      ['ban.revoke', 'mod-ann', `device:${user.credentials.clientHash}`],
      ['ban.create', 'mod-ann', `device:${user.credentials.clientHash}`],
    ]);
    expect(log[1]!.details).toMatchObject({ banId: ban.banId, reason: 'appeal upheld' });
    expect(log[0]!.details).toMatchObject({ reason: 'two', devices: [user.credentials.clientHash] });
    const older = await admin.admin.audit.list.query({ beforeId: log[0]!.auditId, limit: 1 });
    expect(older).toEqual([log[1]]);

    const untyped = admin as unknown as { admin: { audit: Record<string, { mutate(i: unknown): Promise<unknown> }> } };
    for (const name of ['delete', 'update', 'clear']) {
      expect(await codeOf(untyped.admin.audit[name]!.mutate({ auditId: log[0]!.auditId }))).toBe('NOT_FOUND');
    }
    expect(await admin.admin.audit.list.query()).toEqual(log);
  });
});
