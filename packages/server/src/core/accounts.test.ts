import { afterEach, describe, expect, it } from 'vitest';
import { codeOf, startInProcessCore, type InProcessCore } from '../test-support/in-process-core.js';

let t: InProcessCore;
afterEach(() => t.core.close());


describe('Accounts: the secret guards the account, a device token does not', () => {
  it('a wrong secret and an unknown username fail alike; the right secret logs a new device in', async () => {
    t = startInProcessCore();
    const alice = await t.register(30, 'alice');
    expect(await codeOf(t.core.accounts.login({ username: 'alice', secret: 'not-it' }))).toBe('INVALID_CREDENTIALS');
    expect(await codeOf(t.core.accounts.login({ username: 'nobody', secret: alice.secret }))).toBe('INVALID_CREDENTIALS');
    // Usernames compare case-insensitively.
    t.clock.advance(1);
    const second = await t.core.accounts.login({ username: 'ALICE', secret: alice.secret, deviceName: 'laptop' });
    expect(second.userHash).toBe(alice.userHash);
    expect((await t.core.accounts.listClients(alice.session)).map((c) => c.deviceName)).toEqual([null, 'laptop']);
  });

  it('rotating the secret needs the current one; afterwards only the new one logs in', async () => {
    t = startInProcessCore();
    const alice = await t.register(30, 'alice');
    expect(await codeOf(t.core.accounts.rotateSecret(alice.session, 'guess'))).toBe('INVALID_CREDENTIALS');
    await t.core.accounts.login({ username: 'alice', secret: alice.secret }); // unchanged

    const { secret } = await t.core.accounts.rotateSecret(alice.session, alice.secret);
    expect(secret).not.toBe(alice.secret);
    expect(await codeOf(t.core.accounts.login({ username: 'alice', secret: alice.secret }))).toBe('INVALID_CREDENTIALS');
    expect((await t.core.accounts.login({ username: 'alice', secret })).userHash).toBe(alice.userHash);
  });

  it('revoking another device needs the secret; the device goes, is closed, and the others hear of it', async () => {
    t = startInProcessCore();
    const alice = await t.register(30, 'alice');
    const phone = await t.core.accounts.login({ username: 'alice', secret: alice.secret, deviceName: 'phone' });
    const devices = async () => (await t.core.accounts.listClients(alice.session)).map((c) => c.clientHash);

    expect(await codeOf(t.core.accounts.revokeClient(alice.session, phone.clientHash, undefined))).toBe('INVALID_CREDENTIALS');
    expect(await codeOf(t.core.accounts.revokeClient(alice.session, phone.clientHash, 'guess'))).toBe('INVALID_CREDENTIALS');
    expect(await devices()).toContain(phone.clientHash);

    await t.core.accounts.revokeClient(alice.session, phone.clientHash, alice.secret);
    expect(await devices()).toEqual([alice.session.clientHash]);
    expect(await t.core.accounts.authenticate({ clientHash: phone.clientHash, accessToken: phone.accessToken })).toBeNull();
    expect(t.published).toContainEqual({ kind: 'close-clients', clientHashes: [phone.clientHash], reason: 'revoked' });
    expect(await t.events(alice.userHash)).toContainEqual({ type: 'session.revoked', clientHash: phone.clientHash });
  });

  it('a device revokes itself without the secret; another account’s device looks missing', async () => {
    t = startInProcessCore();
    const alice = await t.register(30, 'alice');
    const bob = await t.register(30, 'bob');
    expect(await codeOf(t.core.accounts.revokeClient(alice.session, bob.session.clientHash, alice.secret))).toBe('NOT_FOUND');
    expect(await t.core.accounts.isLive(bob.session)).toBe(true);
    await t.core.accounts.revokeClient(bob.session, bob.session.clientHash, undefined);
    expect(await t.core.accounts.isLive(bob.session)).toBe(false);
  });

  it('a token authenticates its own device only, and only while the device exists', async () => {
    t = startInProcessCore();
    const alice = await t.register(30, 'alice');
    const bob = await t.register(30, 'bob');
    expect(await t.core.accounts.authenticate({ clientHash: alice.session.clientHash, accessToken: alice.accessToken })).toEqual(alice.session);
    expect(await t.core.accounts.authenticate({ clientHash: alice.session.clientHash, accessToken: bob.accessToken })).toBeNull();
  });
});

describe('Accounts: deletion', () => {
  it('needs the secret; then erases the account, closes its other devices and frees the name', async () => {
    t = startInProcessCore();
    const alice = await t.register(30, 'alice');
    const laptop = await t.core.accounts.login({ username: 'alice', secret: alice.secret });
    expect(await codeOf(t.core.accounts.deleteAccount(alice.session, 'guess'))).toBe('INVALID_CREDENTIALS');
    expect(await t.storage.accounts.getUser(alice.userHash)).not.toBeNull();

    await t.core.accounts.deleteAccount(alice.session, alice.secret);
    expect(await t.storage.accounts.getUser(alice.userHash)).toBeNull();
    expect(await t.storage.accounts.listClients(alice.userHash)).toEqual([]);
    expect(t.published).toContainEqual({ kind: 'close-clients', clientHashes: [laptop.clientHash], reason: 'revoked' });
    expect(await codeOf(t.core.accounts.me(alice.session))).toBe('UNAUTHORIZED');
    expect(await codeOf(t.core.accounts.login({ username: 'alice', secret: alice.secret }))).toBe('INVALID_CREDENTIALS');
    const again = await t.register(20, 'alice');
    expect(again.userHash).not.toBe(alice.userHash);
  });

  it('ends the chats for the peer, who keeps the chat and its history as evidence', async () => {
    t = startInProcessCore();
    const alice = await t.register(30, 'alice');
    const bob = await t.register(30, 'bob');
    const chatId = (await t.match(alice.session, bob.session))!;
    await t.send(alice.session, bob.session, chatId);
    await t.send(alice.session, bob.session, chatId);

    await t.core.accounts.deleteAccount(alice.session, alice.secret);
    const [chat] = await t.core.chats.list(bob.session);
    expect(chat).toMatchObject({ chatId, state: 'ended', endReason: 'deleted', peer: { userHash: alice.userHash, deleted: true, age: null } });
    expect(await t.events(bob.userHash)).toContainEqual(expect.objectContaining({ type: 'chat.ended', chatId, reason: 'deleted' }));
    const { messages } = await t.core.chats.history(bob.session, { chatId, limit: 10 });
    expect(messages.map((m) => [m.seq, m.senderUserHash])).toEqual([
      [1, alice.userHash],
      [2, alice.userHash],
    ]);
    // The peer can still report what was said; the report waits for a moderator, marked.
    await t.core.moderation.report(bob.session, { chatId, reason: 'harassment' }, ['net-bob']);
    const [report] = await t.storage.moderation.listReportsAgainst(alice.userHash, 0);
    expect(report).toMatchObject({ chatId, reporterUserHash: bob.userHash, reportedDeletedAt: t.clock.now() });
  });
});
