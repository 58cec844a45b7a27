import { describe, expect, it } from 'vitest';
import type { ChatId, ClientHash, UserHash } from '@omechat/protocol';
import type { BanRecord, NewAuditRecord, NewBan, NewReport, ReportRecord, Storage } from '../../../ports/storage.js';
import type { ContractContext } from './fixtures.js';

/** The moderation part of the Storage contract (blocks, reports, bans, audit, sightings). */
export function moderationContract(ctx: ContractContext): void {
  const s = () => ctx.storage();
  const u = (name: string) => `user-${name}` as UserHash;
  const [alice, bob, carol, dave] = [u('alice'), u('bob'), u('carol'), u('dave')];
  const seedUser = (userHash: UserHash) =>
    s().accounts.createUser({
      userHash,
      username: userHash,
      usernameKey: userHash,
      age: 30,
      secretHash: '$argon2id$x',
      createdAt: 1_000,
    });
  const report = (reporter: UserHash, reported: UserHash, chat: string, overrides: Partial<NewReport> = {}): NewReport => ({
    chatId: `chat-${chat}` as ChatId,
    reporterUserHash: reporter,
    reportedUserHash: reported,
    reason: 'harassment',
    urgent: false,
    note: null,
    disclosed: [],
    createdAt: 1_000,
    reportedDeletedAt: null,
    ...overrides,
  });
  const ban = (overrides: Partial<NewBan> = {}): NewBan => ({
    layer: 'account',
    target: alice,
    reason: 'abuse',
    issuer: 'mod',
    createdAt: 1_000,
    expiresAt: null,
    ...overrides,
  });
  const audit = (subject: string, details: Record<string, unknown> = {}): NewAuditRecord => ({
    at: 1_000,
    actor: 'mod',
    action: 'ban.create',
    subject,
    details,
  });

  describe('moderation: blocks', () => {
    it('adds a block once, lists it for both users, and removes it', async () => {
      expect(await s().moderation.addBlock({ blockerUserHash: alice, blockedUserHash: bob, createdAt: 5 })).toBe(true);
      expect(await s().moderation.addBlock({ blockerUserHash: alice, blockedUserHash: bob, createdAt: 9 })).toBe(false);
      expect(await s().moderation.addBlock({ blockerUserHash: carol, blockedUserHash: alice, createdAt: 6 })).toBe(true);
      const forAlice = await s().moderation.listBlocks(alice);
      expect(forAlice).toHaveLength(2);
      expect(forAlice).toContainEqual({ blockerUserHash: alice, blockedUserHash: bob, createdAt: 5 });
      expect(await s().moderation.listBlocks(bob)).toEqual([{ blockerUserHash: alice, blockedUserHash: bob, createdAt: 5 }]);
      expect(await s().moderation.listBlocks(dave)).toEqual([]);

      expect(await s().moderation.removeBlock(bob, alice)).toBe(false); // direction matters
      expect(await s().moderation.removeBlock(alice, bob)).toBe(true);
      expect(await s().moderation.listBlocks(bob)).toEqual([]);
    });
  });

  describe('moderation: reports', () => {
    it('stores a report once per reporter and chat, with ids that grow', async () => {
      const first = await s().moderation.createReport(report(bob, alice, 'ab', { disclosed: [{ seq: 2, text: 'hi', sender: alice }], note: 'rude' }));
      expect(first).toMatchObject({
        reportId: expect.any(Number) as number,
        chatId: 'chat-ab',
        reporterUserHash: bob,
        reportedUserHash: alice,
        note: 'rude',
        urgent: false,
        disclosed: [{ seq: 2, text: 'hi', sender: alice }],
        resolvedAt: null,
        resolution: null,
        resolvedBy: null,
        resolutionNote: null,
      });
      expect(await s().moderation.createReport(report(bob, alice, 'ab', { reason: 'spam' }))).toBeNull();
      const other = await s().moderation.createReport(report(alice, bob, 'ab'));
      expect(other!.reportId).toBeGreaterThan(first!.reportId);
      expect(await s().moderation.getReport(first!.reportId)).toEqual(first);
      expect(await s().moderation.getReport(9999)).toBeNull();
    });

    it('lists unresolved first, then urgent first, then oldest first', async () => {
      const r1 = (await s().moderation.createReport(report(bob, alice, '1', { createdAt: 10 })))!;
      const r2 = (await s().moderation.createReport(report(bob, alice, '2', { createdAt: 20, urgent: true, reason: 'minor-safety' })))!;
      const r3 = (await s().moderation.createReport(report(bob, alice, '3', { createdAt: 5 })))!;
      const r4 = (await s().moderation.createReport(report(bob, alice, '4', { createdAt: 1, urgent: true })))!;
      await s().moderation.resolveReport(r4.reportId, { resolvedAt: 50, resolution: 'dismissed', resolvedBy: 'mod', resolutionNote: null }, () =>
        audit('report'),
      );
      const ids = async (status: 'open' | 'resolved' | 'all', limit = 10, offset = 0) =>
        (await s().moderation.listReports({ status, limit, offset })).map((r) => r.reportId);
      expect(await ids('all')).toEqual([r2.reportId, r3.reportId, r1.reportId, r4.reportId]);
      expect(await ids('open')).toEqual([r2.reportId, r3.reportId, r1.reportId]);
      expect(await ids('resolved')).toEqual([r4.reportId]);
      expect(await ids('all', 2, 1)).toEqual([r3.reportId, r1.reportId]);
    });

    it('resolves an open report once, with its audit entry', async () => {
      const r = (await s().moderation.createReport(report(bob, alice, 'ab')))!;
      const resolution = { resolvedAt: 70, resolution: 'actioned' as const, resolvedBy: 'mod', resolutionNote: 'banned' };
      let seen: ReportRecord | null = null;
      const resolved = await s().moderation.resolveReport(r.reportId, resolution, (rep) => {
        seen = rep;
        return { ...audit(`report:${rep.reportId}`), action: 'report.resolve' };
      });
      expect(resolved).toEqual({ ...r, ...resolution });
      expect(seen).toEqual(resolved);
      expect(await s().moderation.getReport(r.reportId)).toEqual(resolved);
      expect(await s().moderation.resolveReport(r.reportId, resolution, () => audit('again'))).toBeNull();
      expect(await s().moderation.resolveReport(424242, resolution, () => audit('missing'))).toBeNull();
      const log = await s().moderation.listAudit({ limit: 10 });
      expect(log.map((e) => e.subject)).toEqual([`report:${r.reportId}`]);
    });

    it('counts distinct reporters of a user since a time', async () => {
      await s().moderation.createReport(report(bob, alice, '1', { createdAt: 100 }));
      await s().moderation.createReport(report(bob, alice, '2', { createdAt: 200 }));
      await s().moderation.createReport(report(carol, alice, '3', { createdAt: 300 }));
      await s().moderation.createReport(report(dave, bob, '4', { createdAt: 300 }));
      expect(await s().moderation.countReporters(alice, 0)).toBe(2);
      expect(await s().moderation.countReporters(alice, 200)).toBe(2);
      expect(await s().moderation.countReporters(alice, 201)).toBe(1);
      expect(await s().moderation.countReporters(alice, 301)).toBe(0);
      expect(await s().moderation.countReporters(carol, 0)).toBe(0);
    });

    it('lists the reports against a user since a time, oldest first, and counts a reporter\'s dismissed reports', async () => {
      const r1 = (await s().moderation.createReport(report(bob, alice, '1', { createdAt: 100 })))!;
      const r2 = (await s().moderation.createReport(report(carol, alice, '2', { createdAt: 300 })))!;
      const r3 = (await s().moderation.createReport(report(bob, alice, '3', { createdAt: 200 })))!;
      await s().moderation.createReport(report(dave, bob, '4', { createdAt: 300 }));
      expect(await s().moderation.listReportsAgainst(alice, 0)).toEqual([r1, r3, r2]);
      expect((await s().moderation.listReportsAgainst(alice, 200)).map((r) => r.reportId)).toEqual([r3.reportId, r2.reportId]);
      expect(await s().moderation.listReportsAgainst(carol, 0)).toEqual([]);

      expect(await s().moderation.countDismissedReports(bob)).toBe(0);
      const resolve = (r: ReportRecord, resolution: 'actioned' | 'dismissed') =>
        s().moderation.resolveReport(r.reportId, { resolvedAt: 400, resolution, resolvedBy: 'mod', resolutionNote: null }, () => audit(`report:${r.reportId}`));
      await resolve(r1, 'dismissed');
      await resolve(r3, 'actioned');
      await resolve(r2, 'dismissed');
      expect(await s().moderation.countDismissedReports(bob)).toBe(1);
      expect(await s().moderation.countDismissedReports(carol)).toBe(1);
      expect(await s().moderation.countDismissedReports(alice)).toBe(0);
    });
  });

  describe('moderation: bans and audit', () => {
    it('stores a ban with its cascade and audit entry in one go', async () => {
      let built: BanRecord[] = [];
      const devices = [
        { layer: 'device' as const, target: 'client-phone' },
        { layer: 'device' as const, target: 'client-laptop' },
      ];
      const bans = await s().moderation.createBan(ban({ expiresAt: 9_000 }), devices, (all) => {
        built = all;
        return audit(`account:${alice}`, { banIds: all.map((b) => b.banId) });
      });
      expect(bans).toHaveLength(3);
      expect(built).toEqual(bans);
      const [parent, phone, laptop] = bans as [BanRecord, BanRecord, BanRecord];
      expect(parent).toEqual({
        banId: expect.any(Number) as number,
        layer: 'account',
        target: alice,
        reason: 'abuse',
        issuer: 'mod',
        createdAt: 1_000,
        expiresAt: 9_000,
        revokedAt: null,
        revokedBy: null,
        parentBanId: null,
      });
      expect(phone).toMatchObject({ layer: 'device', target: 'client-phone', parentBanId: parent.banId, expiresAt: 9_000 });
      expect(laptop).toMatchObject({ layer: 'device', target: 'client-laptop', parentBanId: parent.banId });
      const [entry] = await s().moderation.listAudit({ limit: 10 });
      expect(entry).toEqual({ ...audit(`account:${alice}`, { banIds: bans.map((b) => b.banId) }), auditId: expect.any(Number) as number });
    });

    it('lists bans newest first, filtered by layer, target and activity', async () => {
      const [permanent] = await s().moderation.createBan(ban({ createdAt: 100 }), [], () => audit('a'));
      const [expiring] = await s().moderation.createBan(ban({ createdAt: 200, layer: 'network', target: 'ab'.repeat(32), expiresAt: 500 }), [], () => audit('b'));
      const [device] = await s().moderation.createBan(ban({ createdAt: 300, layer: 'device', target: 'client-x' }), [], () => audit('c'));
      const ids = async (q: Parameters<Storage['moderation']['listBans']>[0]) => (await s().moderation.listBans(q)).map((b) => b.banId);
      expect(await ids({})).toEqual([device!.banId, expiring!.banId, permanent!.banId]);
      expect(await ids({ activeAt: 499 })).toEqual([device!.banId, expiring!.banId, permanent!.banId]);
      expect(await ids({ activeAt: 500 })).toEqual([device!.banId, permanent!.banId]);
      expect(await ids({ layer: 'network' })).toEqual([expiring!.banId]);
      expect(await ids({ layer: 'account', target: alice })).toEqual([permanent!.banId]);
      expect(await ids({ target: 'nobody' })).toEqual([]);
      expect(await ids({ limit: 1, offset: 1 })).toEqual([expiring!.banId]);
    });

    it('revokes a ban with its children once, and keeps it listed', async () => {
      const [parent, child] = await s().moderation.createBan(ban(), [{ layer: 'device', target: 'client-phone' }], () => audit('create'));
      const [other] = await s().moderation.createBan(ban({ target: bob }), [], () => audit('other'));
      const revoked = await s().moderation.revokeBan(parent!.banId, { at: 2_000, by: 'mod2' }, (b) => ({
        ...audit(`ban:${b.banId}`),
        action: 'ban.revoke',
      }));
      expect(revoked).toEqual({ ...parent, revokedAt: 2_000, revokedBy: 'mod2' });
      expect(await s().moderation.revokeBan(parent!.banId, { at: 3_000, by: 'mod' }, () => audit('again'))).toBeNull();
      expect(await s().moderation.revokeBan(987654, { at: 3_000, by: 'mod' }, () => audit('missing'))).toBeNull();
      const active = await s().moderation.listBans({ activeAt: 2_500 });
      expect(active.map((b) => b.banId)).toEqual([other!.banId]);
      const all = await s().moderation.listBans({});
      expect(all.find((b) => b.banId === child!.banId)).toMatchObject({ revokedAt: 2_000, revokedBy: 'mod2' });
      expect((await s().moderation.listAudit({ limit: 10 })).map((e) => e.subject)).toEqual([`ban:${parent!.banId}`, 'other', 'create']);
    });

    it('appends an entry on its own, newest first, details intact', async () => {
      await s().moderation.appendAudit({ ...audit('network:ab', { failures: 5 }), action: 'admin.lockout', at: 10 });
      await s().moderation.appendAudit(audit('second'));
      const [second, first] = await s().moderation.listAudit({ limit: 10 });
      expect(second!.subject).toBe('second');
      expect(first).toEqual({ auditId: expect.any(Number) as number, at: 10, actor: 'mod', action: 'admin.lockout', subject: 'network:ab', details: { failures: 5 } });
      expect(second!.auditId).toBeGreaterThan(first!.auditId);
    });

    it('stores nothing when the audit builder throws', async () => {
      await expect(
        s().moderation.createBan(ban(), [], () => {
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await s().moderation.listBans({})).toEqual([]);
      expect(await s().moderation.listAudit({ limit: 10 })).toEqual([]);
    });

    it('pages through the audit log, newest first', async () => {
      for (const name of ['a', 'b', 'c', 'd', 'e']) await s().moderation.createBan(ban({ target: u(name) }), [], () => audit(name));
      const page1 = await s().moderation.listAudit({ limit: 2 });
      const page2 = await s().moderation.listAudit({ limit: 2, beforeId: page1.at(-1)!.auditId });
      const page3 = await s().moderation.listAudit({ limit: 2, beforeId: page2.at(-1)!.auditId });
      expect([page1, page2, page3].map((p) => p.map((e) => e.subject))).toEqual([['e', 'd'], ['c', 'b'], ['a']]);
      expect(page1[0]!.auditId).toBeGreaterThan(page1[1]!.auditId);
      // The port offers no update or delete of entries at all.
      expect('updateAudit' in s() || 'deleteAudit' in s()).toBe(false);
    });
  });

  describe('moderation: sightings', () => {
    it('keeps the latest time per device and network, most recent first, at most 32 per user', async () => {
      const net = (n: number) => n.toString(16).padStart(64, '0');
      const phone = 'client-phone' as ClientHash;
      await s().moderation.recordSighting({ userHash: alice, clientHash: phone, networkKey: net(1), lastSeenAt: 10 });
      await s().moderation.recordSighting({ userHash: alice, clientHash: phone, networkKey: net(2), lastSeenAt: 20 });
      await s().moderation.recordSighting({ userHash: alice, clientHash: phone, networkKey: net(1), lastSeenAt: 30 });
      await s().moderation.recordSighting({ userHash: bob, clientHash: 'client-bob' as ClientHash, networkKey: net(1), lastSeenAt: 40 });
      expect(await s().moderation.listSightings(alice)).toEqual([
        { userHash: alice, clientHash: phone, networkKey: net(1), lastSeenAt: 30 },
        { userHash: alice, clientHash: phone, networkKey: net(2), lastSeenAt: 20 },
      ]);
      for (let i = 100; i < 140; i++) await s().moderation.recordSighting({ userHash: alice, clientHash: phone, networkKey: net(i), lastSeenAt: i });
      const kept = await s().moderation.listSightings(alice);
      expect(kept).toHaveLength(32);
      expect(kept[0]!.networkKey).toBe(net(139));
      expect(await s().moderation.listSightings(bob)).toHaveLength(1);
    });
  });

  describe('moderation: deleteUser', () => {
    it('erases blocks, sightings and the reports the user made; keeps reports against them (marked), bans and the audit log', async () => {
      for (const x of [alice, bob, carol]) await seedUser(x);
      await s().moderation.addBlock({ blockerUserHash: alice, blockedUserHash: bob, createdAt: 1 });
      await s().moderation.addBlock({ blockerUserHash: carol, blockedUserHash: alice, createdAt: 1 });
      await s().moderation.addBlock({ blockerUserHash: bob, blockedUserHash: carol, createdAt: 1 });
      const against = await s().moderation.createReport(report(bob, alice, 'ab'));
      const by = await s().moderation.createReport(report(alice, carol, 'ac'));
      const unrelated = await s().moderation.createReport(report(bob, carol, 'bc'));
      await s().moderation.recordSighting({ userHash: alice, clientHash: 'client-a' as ClientHash, networkKey: 'f'.repeat(64), lastSeenAt: 1 });
      const bans = await s().moderation.createBan(ban(), [{ layer: 'device', target: 'client-a' }], () => audit(`account:${alice}`));

      await s().accounts.deleteUser(alice, 5_000);

      expect(await s().moderation.listBlocks(alice)).toEqual([]);
      expect(await s().moderation.listBlocks(bob)).toEqual([{ blockerUserHash: bob, blockedUserHash: carol, createdAt: 1 }]);
      expect(await s().moderation.getReport(against!.reportId)).toEqual({ ...against, reportedDeletedAt: 5_000 });
      expect(await s().moderation.getReport(by!.reportId)).toBeNull();
      expect(await s().moderation.getReport(unrelated!.reportId)).toEqual(unrelated);
      expect(await s().moderation.countReporters(alice, 0)).toBe(1);
      expect(await s().moderation.listSightings(alice)).toEqual([]);
      expect(await s().moderation.listBans({ activeAt: 2_000 })).toEqual([...bans].reverse());
      expect(await s().moderation.listAudit({ limit: 10 })).toHaveLength(1);
    });
  });

  describe('moderation: report retention after deletion', () => {
    it('purges only reports whose reported user was deleted before the cut-off', async () => {
      for (const x of [alice, bob, carol]) await seedUser(x);
      const early = await s().moderation.createReport(report(bob, alice, 'ab'));
      const late = await s().moderation.createReport(report(bob, carol, 'bc'));
      const live = await s().moderation.createReport(report(alice, bob, 'ab2'));
      const afterDeletion = await s().moderation.createReport(report(carol, alice, 'ca', { reportedDeletedAt: 1_500 }));
      await s().accounts.deleteUser(alice, 1_000);
      await s().accounts.deleteUser(carol, 3_000); // also erases the report carol made
      expect(await s().moderation.purgeReportsOfDeletedUsers(2_000)).toBe(1);
      expect(await s().moderation.getReport(early!.reportId)).toBeNull();
      expect(await s().moderation.getReport(afterDeletion!.reportId)).toBeNull();
      expect(await s().moderation.getReport(late!.reportId)).toMatchObject({ reportedDeletedAt: 3_000 });
      expect(await s().moderation.getReport(live!.reportId)).toBeNull(); // alice made it: erased with her
      expect(await s().moderation.purgeReportsOfDeletedUsers(3_001)).toBe(1);
    });
  });

  describe('moderation: isolation', () => {
    it('hands out copies', async () => {
      const r = (await s().moderation.createReport(report(bob, alice, 'ab', { disclosed: [{ seq: 1, text: 'x', sender: null }] })))!;
      r.disclosed[0]!.text = 'tampered';
      expect((await s().moderation.getReport(r.reportId))!.disclosed[0]!.text).toBe('x');
      const [b] = await s().moderation.createBan(ban(), [], () => audit('a', { list: [1] }));
      b!.reason = 'tampered';
      expect((await s().moderation.listBans({}))[0]!.reason).toBe('abuse');
      const [entry] = await s().moderation.listAudit({ limit: 1 });
      (entry!.details.list as number[]).push(2);
      expect((await s().moderation.listAudit({ limit: 1 }))[0]!.details).toEqual({ list: [1] });
    });
  });
}
