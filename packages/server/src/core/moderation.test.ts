import type { UserHash } from '@omechat/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { codeOf, DAY, startInProcessCore, type InProcessCore } from '../test-support/in-process-core.js';

let t: InProcessCore;
afterEach(() => t.core.close());

let networks = 0;

/** A new account is matched with `target` and reports the chat, from a network of its own. */
async function reportedBy(target: Awaited<ReturnType<InProcessCore['register']>>, reason: 'harassment' | 'minor-safety' = 'harassment') {
  const reporter = await t.register(30);
  const chatId = (await t.match(target.session, reporter.session))!;
  await t.core.moderation.report(reporter.session, { chatId, reason }, [`net-${++networks}`]);
  await t.core.chats.leave(reporter.session, chatId);
  return { reporter, chatId };
}
const suspension = async (userHash: UserHash) => {
  const [ban] = await t.core.moderation.listBans({ status: 'active', layer: 'account', target: userHash, limit: 10, offset: 0 });
  return ban ? { expiresAt: ban.expiresAt, issuer: ban.issuer } : null;
};

describe('Moderation: automatic suspensions escalate', () => {
  it('each suspension lasts `factor` times the one before; after `suspensionsBeforePermanent` the next is permanent', async () => {
    t = startInProcessCore({ escalation: { reporters: 2, suspensionMs: DAY, factor: 4, suspensionsBeforePermanent: 2, windowMs: 30 * DAY } });
    const mallory = await t.register(30, 'mallory');

    await reportedBy(mallory);
    expect(await suspension(mallory.userHash)).toBeNull(); // one report is not enough
    await reportedBy(mallory);
    expect(await suspension(mallory.userHash)).toEqual({ expiresAt: t.clock.now() + DAY, issuer: 'system' });
    expect(await codeOf(t.core.accounts.login({ username: 'mallory', secret: mallory.secret }))).toBe('BANNED');

    t.clock.advance(DAY + 1);
    expect(await suspension(mallory.userHash)).toBeNull();
    // The reports that led to the first suspension do not count again: one new report is not enough.
    await reportedBy(mallory);
    expect(await suspension(mallory.userHash)).toBeNull();
    await reportedBy(mallory);
    expect(await suspension(mallory.userHash)).toEqual({ expiresAt: t.clock.now() + 4 * DAY, issuer: 'system' });

    t.clock.advance(4 * DAY + 1);
    await reportedBy(mallory);
    await reportedBy(mallory);
    expect(await suspension(mallory.userHash)).toEqual({ expiresAt: null, issuer: 'system' });
  });

  it('a suspension a moderator revoked does not lengthen the next one', async () => {
    t = startInProcessCore({ escalation: { reporters: 2, suspensionMs: DAY, factor: 4, windowMs: 30 * DAY } });
    const mallory = await t.register(30, 'mallory');
    await reportedBy(mallory);
    await reportedBy(mallory);
    const [ban] = await t.core.moderation.listBans({ status: 'active', layer: 'account', target: mallory.userHash, limit: 1, offset: 0 });
    await t.core.moderation.revokeBan({ moderator: 'mod' }, { banId: ban!.banId, reason: 'mistaken' });
    expect(await suspension(mallory.userHash)).toBeNull();
    t.clock.advance(1);
    await reportedBy(mallory);
    await reportedBy(mallory);
    expect(await suspension(mallory.userHash)).toEqual({ expiresAt: t.clock.now() + DAY, issuer: 'system' });
  });

  it('reports older than the window do not add up', async () => {
    t = startInProcessCore({ escalation: { reporters: 2, windowMs: DAY } });
    const mallory = await t.register(30, 'mallory');
    await reportedBy(mallory);
    t.clock.advance(DAY + 1);
    await reportedBy(mallory);
    expect(await suspension(mallory.userHash)).toBeNull();
    await reportedBy(mallory);
    expect(await suspension(mallory.userHash)).not.toBeNull();
  });
});

describe('Moderation: reports', () => {
  it('a report of the same chat twice is refused; urgent reasons go to the head of the queue', async () => {
    t = startInProcessCore();
    const mallory = await t.register(30, 'mallory');
    const { reporter, chatId } = await reportedBy(mallory);
    expect(await codeOf(t.core.moderation.report(reporter.session, { chatId, reason: 'spam' }, ['net-x']))).toBe('ALREADY_REPORTED');
    const other = await t.register(30, 'other');
    const urgent = await reportedBy(other, 'minor-safety');
    const queue = await t.core.moderation.listReports({ status: 'open', limit: 10, offset: 0 });
    expect(queue.map((r) => [r.reporter, r.urgent])).toEqual([
      [urgent.reporter.userHash, true],
      [reporter.userHash, false],
    ]);
  });

  it('only a member may report a chat, and what they disclose is checked against who sent each seq', async () => {
    t = startInProcessCore();
    const alice = await t.register(30, 'alice');
    const bob = await t.register(30, 'bob');
    const chatId = (await t.match(alice.session, bob.session))!;
    await t.send(bob.session, alice.session, chatId);
    await t.send(alice.session, bob.session, chatId);
    const stranger = await t.register(30, 'stranger');
    expect(await codeOf(t.core.moderation.report(stranger.session, { chatId, reason: 'spam' }, ['n']))).toBe('FORBIDDEN');

    const disclosed = [
      { seq: 1, text: 'what bob said' },
      { seq: 2, text: 'what I said' },
      { seq: 9, text: 'never sent' },
    ];
    await t.core.moderation.report(alice.session, { chatId, reason: 'harassment', disclosed }, ['n']);
    const [report] = await t.core.moderation.listReports({ status: 'open', limit: 1, offset: 0 });
    expect(report?.disclosed).toEqual([
      { seq: 1, text: 'what bob said', sender: bob.userHash },
      { seq: 2, text: 'what I said', sender: alice.userHash },
      { seq: 9, text: 'never sent', sender: null },
    ]);
  });

  it('reports against a deleted account wait for moderators, then go after the report retention', async () => {
    t = startInProcessCore();
    const alice = await t.register(30, 'alice');
    const bob = await t.register(30, 'bob');
    const chatId = (await t.match(alice.session, bob.session))!;
    await t.core.accounts.deleteAccount(bob.session, bob.secret);
    await t.core.moderation.report(alice.session, { chatId, reason: 'harassment' }, ['n']);
    expect(await t.core.moderation.listReports({ status: 'open', limit: 10, offset: 0 })).toHaveLength(1);
    expect(await suspension(bob.userHash)).toBeNull(); // nobody left to suspend

    expect((await t.core.purgeExpired(t.clock.now() + 90 * DAY - 1)).reports).toBe(0);
    expect((await t.core.purgeExpired(t.clock.now() + 90 * DAY + 1)).reports).toBe(1);
    expect(await t.core.moderation.listReports({ status: 'all', limit: 10, offset: 0 })).toEqual([]);
  });
});

describe('Moderation: blocks and bans act at once', () => {
  it('a block ends the chat for both, keeps messages out, and lists only the blocker’s own blocks', async () => {
    t = startInProcessCore();
    const alice = await t.register(30, 'alice');
    const bob = await t.register(30, 'bob');
    const chatId = (await t.match(alice.session, bob.session))!;
    await t.core.moderation.block(alice.session, bob.userHash);
    expect((await t.storage.chats.getChat(chatId))?.endReason).toBe('blocked');
    expect(await codeOf(t.send(bob.session, alice.session, chatId))).toBe('CHAT_ENDED');
    expect((await t.core.moderation.listBlocks(alice.session)).map((b) => b.userHash)).toEqual([bob.userHash]);
    expect(await t.core.moderation.listBlocks(bob.session)).toEqual([]);
    expect(await t.core.moderation.blockedEitherWay(bob.userHash, alice.userHash)).toBe(true);
    expect(await codeOf(t.core.moderation.block(alice.session, alice.userHash))).toBe('BAD_REQUEST');
  });

  it('an account ban bans its devices too, ends its chats for the peers and withdraws its ticket', async () => {
    t = startInProcessCore();
    const mallory = await t.register(30, 'mallory');
    const bob = await t.register(30, 'bob');
    const chatId = (await t.match(mallory.session, bob.session))!;
    await t.core.matchmaking.start(mallory.session, { tolerance: 5 });

    const expiresAt = t.clock.now() + DAY;
    await t.core.moderation.createBan({ moderator: 'mod' }, { layer: 'account', target: mallory.userHash, reason: 'abuse', expiresAt });
    expect((await t.storage.chats.getChat(chatId))?.endReason).toBe('banned');
    expect(await t.core.moderation.banFor({ clientHash: mallory.session.clientHash })).toMatchObject({ layer: 'device', expiresAt });
    expect(t.published).toContainEqual({ kind: 'close-user', userHash: mallory.userHash, reason: 'banned' });
    const carol = await t.register(30, 'carol');
    expect(await t.core.matchmaking.start(carol.session, { tolerance: 5 })).toEqual({ queued: true, chatId: null });
    // The right secret learns of the ban; a wrong one learns nothing.
    expect(await codeOf(t.core.accounts.login({ username: 'mallory', secret: 'guess' }))).toBe('INVALID_CREDENTIALS');
    expect(await codeOf(t.core.accounts.login({ username: 'mallory', secret: mallory.secret }))).toBe('BANNED');
    t.clock.advance(DAY + 1);
    expect((await t.core.accounts.login({ username: 'mallory', secret: mallory.secret })).userHash).toBe(mallory.userHash);
  });

  it('a ban must end in the future and name an existing account or device', async () => {
    t = startInProcessCore();
    const admin = { moderator: 'mod' };
    expect(await codeOf(t.core.moderation.createBan(admin, { layer: 'account', target: 'nobody' as UserHash, reason: 'x', expiresAt: t.clock.now() }))).toBe('BAD_REQUEST');
    expect(await codeOf(t.core.moderation.createBan(admin, { layer: 'account', target: 'nobody' as UserHash, reason: 'x', expiresAt: null }))).toBe('NOT_FOUND');
    expect(await codeOf(t.core.moderation.createBan(admin, { layer: 'device', target: 'identity-key', reason: 'x', expiresAt: null }))).toBe('NOT_FOUND');
  });
});
