import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LIMITS, type ChatId } from '@omechat/protocol';
import type { AnyTRPCProcedure } from '@trpc/server';
import { ZodObject } from 'zod';
import { appRouter } from '@omechat/server/testing';
import { recorder, startTestServer, waitFor, type TestServer } from './harness.js';
import { ADMIN_TOKEN, adminClient, codeOf, envelopeTo, matchedPair, rpc, signUpFrom, type TestClient } from './safety-harness.js';

let t: TestServer;
const open: { close(): unknown }[] = [];
const track = <C extends { close(): unknown }>(c: C) => {
  open.push(c);
  return c;
};
beforeEach(async () => {
  t = await startTestServer({ OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await t.destroy();
});

async function pair() {
  const p = await matchedPair(t.url);
  track(p.a.client);
  track(p.b.client);
  return p;
}
async function newcomer(age = 20, from = '127.0.0.1') {
  const user = await signUpFrom(t.url, from, age);
  track(user.client);
  const events = recorder(user.client);
  await user.client.eventsLive();
  return { ...user, events };
}
const send = (client: TestClient, chatId: ChatId, to: string, text: string) =>
  client.message.send({ chatId, envelope: envelopeTo(to, text) });

describe('evidence outlives the account', () => {
  it('keeps reports against a deleted account with their disclosures, and lets the peer report the chat afterwards', async () => {
    const admin = track(adminClient(t.url));
    const { a: abuser, b: victim, eb, chatId } = await pair();
    const other = await pair();
    await send(abuser.client, chatId, victim.credentials.clientHash, 'something vile');
    await eb.next('message.new');
    await send(other.a.client, other.chatId, other.b.credentials.clientHash, 'also vile');
    await other.eb.next('message.new');
    // One victim reports before the deletion...
    await rpc(other.b.client).safety.report.mutate({ chatId: other.chatId, reason: 'harassment', disclosed: [{ seq: 1, text: 'also vile' }] });
    await abuser.client.account.delete({ secret: abuser.secret });
    await other.a.client.account.delete({ secret: other.a.secret });
    await eb.next('chat.ended');
    // ...the other after it: the chat is still theirs, and the sender is still on record.
    expect(await rpc(victim.client).safety.report.mutate({ chatId, reason: 'minor-safety', disclosed: [{ seq: 1, text: 'something vile' }] })).toEqual({ urgent: true });

    const reports = await admin.trpc.admin.reports.list.query();
    const byChat = new Map(reports.map((r) => [r.chatId, r]));
    expect(byChat.get(chatId)).toMatchObject({
      reported: abuser.userHash,
      reporter: victim.userHash,
      disclosed: [{ seq: 1, text: 'something vile', sender: abuser.userHash }],
      reportedDeletedAt: expect.any(Number) as number,
    });
    expect(byChat.get(other.chatId)).toMatchObject({
      reported: other.a.userHash,
      disclosed: [{ seq: 1, text: 'also vile', sender: other.a.userHash }],
      reportedDeletedAt: expect.any(Number) as number,
    });
    // A deleted account is not suspended (there is nothing left to suspend); its reports stay.
    expect(await admin.trpc.admin.bans.list.query()).toEqual([]);

    // Kept for OMECHAT_REPORT_RETENTION_DAYS (default 365) after the deletion, then purged.
    expect((await t.core.purgeExpired(Date.now() + 364 * 86_400_000)).reports).toBe(0);
    expect((await t.core.purgeExpired(Date.now() + 366 * 86_400_000)).reports).toBe(2);
    expect(await admin.trpc.admin.reports.list.query()).toEqual([]);
  });

  it('erases the reports the deleted account made, its blocks, and its name', async () => {
    const admin = track(adminClient(t.url));
    const { a, b, chatId } = await pair();
    await rpc(a.client).safety.report.mutate({ chatId, reason: 'spam' });
    await rpc(b.client).safety.block.mutate({ userHash: a.userHash });
    expect(await rpc(b.client).safety.blocks.query()).toHaveLength(1);
    await a.client.account.delete({ secret: a.secret });
    expect(await admin.trpc.admin.reports.list.query()).toEqual([]);
    expect(await rpc(b.client).safety.blocks.query()).toEqual([]);
    await expect(admin.trpc.admin.users.get.query({ userHash: a.userHash })).rejects.toThrow();
  });
});

describe('blocks', () => {
  it('end an active chat for both, and no message passes either way', async () => {
    const { a, b, ea, eb, chatId } = await pair();
    await send(a.client, chatId, b.credentials.clientHash, 'hello');
    await eb.next('message.new');

    expect(await rpc(b.client).safety.block.mutate({ userHash: a.userHash })).toEqual({ blocked: true });
    expect(await ea.next('chat.ended')).toMatchObject({ chatId, reason: 'blocked' });
    expect(await eb.next('chat.ended')).toMatchObject({ chatId, reason: 'blocked' });
    expect(await codeOf(send(a.client, chatId, b.credentials.clientHash, 'are you there?'))).toBe('CHAT_ENDED');
    expect(await codeOf(send(b.client, chatId, a.credentials.clientHash, 'bye'))).toBe('CHAT_ENDED');
    // Refused sends store nothing: the chat holds the one message from before the block.
    expect((await b.client.chat.history({ chatId, limit: 10 })).messages).toHaveLength(1);
    expect(eb.texts()).toEqual(['hello']);
    expect(ea.texts()).toEqual([]);
    // Nor can either fetch the other's keys (and use up one-time prekeys).
    expect(await codeOf(rpc(a.client).keys.bundles.mutate({ userHash: b.userHash }))).toBe('FORBIDDEN');
    expect(await codeOf(rpc(a.client).keys.devices.query({ userHash: b.userHash }))).toBe('FORBIDDEN');
  });

  it('keep the two apart in matching, whoever blocked whom, while others still match', async () => {
    const { a, b, ea, eb, chatId } = await pair();
    await rpc(a.client).safety.block.mutate({ userHash: b.userHash });
    await ea.next('chat.ended');
    await eb.next('chat.ended');

    // The blocked user is waiting; the blocker arrives: no match. And the other way round.
    expect((await b.client.match.start({ tolerance: 0 })).queued).toBe(true);
    expect((await a.client.match.start({ tolerance: 0 })).queued).toBe(true);
    const c = await newcomer();
    const withC = await c.client.match.start({ tolerance: 0 });
    expect(withC.queued).toBe(false);
    const d = await newcomer();
    expect((await d.client.match.start({ tolerance: 0 })).queued).toBe(false);
    await ea.next('match.found', 2);
    await eb.next('match.found', 2);
    const peers = [ea.of('match.found')[1]!.peer.userHash, eb.of('match.found')[1]!.peer.userHash].sort();
    expect(peers).toEqual([c.userHash, d.userHash].sort());
    expect(ea.of('match.found')[1]!.chatId).not.toBe(chatId);
  });

  it('can be listed and lifted; after unblocking the two may meet again', async () => {
    const { a, b, ea, eb } = await pair();
    const safety = rpc(a.client).safety;
    await safety.block.mutate({ userHash: b.userHash });
    expect(await safety.blocks.query()).toEqual([{ userHash: b.userHash, blockedAt: expect.any(Number) as number }]);
    // Who blocked you stays private.
    expect(await rpc(b.client).safety.blocks.query()).toEqual([]);
    expect(await safety.unblock.mutate({ userHash: b.userHash })).toEqual({ unblocked: true });
    expect(await safety.unblock.mutate({ userHash: b.userHash })).toEqual({ unblocked: false });
    expect(await safety.blocks.query()).toEqual([]);

    await a.client.match.start({ tolerance: 0 });
    await b.client.match.start({ tolerance: 0 });
    expect((await ea.next('match.found', 2)).peer.userHash).toBe(b.userHash);
    await eb.next('match.found', 2);
  });

  it('refuse yourself; an unknown user is blocked like any other (no probing for accounts)', async () => {
    const a = await newcomer();
    expect(await codeOf(rpc(a.client).safety.block.mutate({ userHash: a.userHash }))).toBe('BAD_REQUEST');
    expect(await rpc(a.client).safety.block.mutate({ userHash: 'NoSuchUser_12345678' })).toEqual({ blocked: true });
  });

  it('made in another server process (told over the bus) stop the next message', async () => {
    const { a, b, eb, chatId } = await pair();
    await send(a.client, chatId, b.credentials.clientHash, 'one');
    await eb.next('message.new');
    // As another process would: the block is stored, and only the bus tells this one.
    await t.core.deps.storage.moderation.addBlock({ blockerUserHash: b.userHash, blockedUserHash: a.userHash, createdAt: Date.now() });
    t.core.deps.bus.publish({ kind: 'blocks-changed', userHashes: [a.userHash, b.userHash] });
    expect(await codeOf(send(a.client, chatId, b.credentials.clientHash, 'two'))).toBe('CHAT_ENDED');
    expect(await eb.next('chat.ended')).toMatchObject({ reason: 'blocked' });
  });
});

describe('reports', () => {
  it('reach the moderators with what the reporter disclosed; minor-safety first; once per chat', async () => {
    const { a, b, eb, chatId } = await pair();
    await send(a.client, chatId, b.credentials.clientHash, 'how old are you');
    await send(b.client, chatId, a.credentials.clientHash, 'why');
    await eb.next('message.new');

    // An earlier, ordinary report elsewhere, so the urgent one has to be sorted first.
    const other = await pair();
    await rpc(other.a.client).safety.report.mutate({ chatId: other.chatId, reason: 'spam' });

    const report = rpc(b.client).safety.report.mutate({
      chatId,
      reason: 'minor-safety',
      note: '  asked my age, then for photos  ',
      disclosed: [
        { seq: 1, text: 'how old are you' },
        { seq: 2, text: 'why' },
        { seq: 99, text: 'a message that never was' },
      ],
    });
    expect(await report).toEqual({ urgent: true });
    expect(await codeOf(rpc(b.client).safety.report.mutate({ chatId, reason: 'harassment' }))).toBe('ALREADY_REPORTED');

    const admin = track(adminClient(t.url)).trpc;
    const [first, second] = await admin.admin.reports.list.query();
    expect(first).toMatchObject({
      chatId,
      reporter: b.userHash,
      reported: a.userHash,
      reason: 'minor-safety',
      urgent: true,
      note: 'asked my age, then for photos',
      disclosed: [
        { seq: 1, text: 'how old are you', sender: a.userHash },
        { seq: 2, text: 'why', sender: b.userHash },
        { seq: 99, text: 'a message that never was', sender: null },
      ],
      resolvedAt: null,
    });
    expect(second).toMatchObject({ reason: 'spam', urgent: false, reporter: other.a.userHash });

    const resolved = await admin.admin.reports.resolve.mutate({ reportId: first!.reportId, resolution: 'actioned', note: 'banned' });
    expect(resolved).toMatchObject({ resolution: 'actioned', resolvedBy: 'mod-ann', resolutionNote: 'banned' });
    expect(await codeOf(admin.admin.reports.resolve.mutate({ reportId: first!.reportId, resolution: 'dismissed' }))).toBe('CONFLICT');
    expect(await codeOf(admin.admin.reports.resolve.mutate({ reportId: 424242, resolution: 'dismissed' }))).toBe('NOT_FOUND');
    expect((await admin.admin.reports.list.query()).map((r) => r.reportId)).toEqual([second!.reportId]);
    expect((await admin.admin.reports.list.query({ status: 'all' })).map((r) => r.reportId)).toEqual([second!.reportId, first!.reportId]);
    expect((await admin.admin.audit.list.query())[0]).toMatchObject({ action: 'report.resolve', actor: 'mod-ann', subject: `report:${first!.reportId}` });
  });

  it('may be made after the chat ended, only by its members', async () => {
    const { a, b, eb, chatId } = await pair();
    await a.client.chat.leave(chatId);
    await eb.next('chat.ended');
    expect(await rpc(b.client).safety.report.mutate({ chatId, reason: 'harassment' })).toEqual({ urgent: false });
    const outsider = await newcomer();
    expect(await codeOf(rpc(outsider.client).safety.report.mutate({ chatId, reason: 'spam' }))).toBe('FORBIDDEN');
    expect(await codeOf(rpc(outsider.client).safety.report.mutate({ chatId: 'NoSuchChat_123456789', reason: 'spam' }))).toBe('FORBIDDEN');
  });

  it('bound what may be disclosed', async () => {
    const { b, chatId } = await pair();
    const tooMany = Array.from({ length: LIMITS.disclosedMessagesMax + 1 }, (_, i) => ({ seq: i + 1, text: 'x' }));
    expect(await codeOf(rpc(b.client).safety.report.mutate({ chatId, reason: 'spam', disclosed: tooMany }))).toBe('PAYLOAD_TOO_LARGE');
    const tooLong = [{ seq: 1, text: 'x'.repeat(LIMITS.disclosedMessageChars + 1) }];
    expect(await codeOf(rpc(b.client).safety.report.mutate({ chatId, reason: 'spam', disclosed: tooLong }))).toBe('PAYLOAD_TOO_LARGE');
    const twice = [{ seq: 1, text: 'a' }, { seq: 1, text: 'b' }];
    expect(await codeOf(rpc(b.client).safety.report.mutate({ chatId, reason: 'spam', disclosed: twice }))).toBe('BAD_REQUEST');
    expect(await codeOf(rpc(b.client).safety.report.mutate({ chatId, reason: 'spam', note: 'x'.repeat(LIMITS.reportNoteMax + 1) }))).toBe('PAYLOAD_TOO_LARGE');
    // None of those counted as the one report per chat.
    expect(await rpc(b.client).safety.report.mutate({ chatId, reason: 'spam' })).toEqual({ urgent: false });
  });
});

describe('automatic escalation', () => {
  it('suspends an account reported with enough evidence, longer each time, then for good', async () => {
    await t.destroy();
    t = await startTestServer({
      OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN,
      OMECHAT_REPORTS_TO_SUSPEND: '2',
      // Long enough that a loaded machine cannot outlast it by accident; the test moves the clock.
      OMECHAT_REPORT_WINDOW_MS: '86400000',
      OMECHAT_SUSPENSION_MS: '3600000',
      OMECHAT_SUSPENSION_FACTOR: '2',
      OMECHAT_SUSPENSIONS_BEFORE_PERMANENT: '1',
      // The same reporter meets the offender again right after their chat ends.
      OMECHAT_MATCH_REMATCH_AFTER_MS: '0',
    });
    const offender = await newcomer(30);
    const admin = track(adminClient(t.url)).trpc;

    // Reporters whose reports count in full (docs/safety.md): a week old, each on a network of its own.
    const reporters = [];
    for (let i = 1; i <= 4; i++) reporters.push(await newcomer(30, `127.0.${i}.2`));
    t.clock.advance(7 * 86_400_000);

    /** Matches the offender with `r`, the offender harasses them (three messages), `r` reports them. */
    const reportedBy = async (r: Awaited<ReturnType<typeof newcomer>>) => {
      const seen = r.events.of('match.found').length;
      const seenByOffender = offender.events.of('match.found').length;
      await offender.client.match.start({ tolerance: 0 });
      await r.client.match.start({ tolerance: 0 });
      const found = await r.events.next('match.found', seen + 1);
      await offender.events.next('match.found', seenByOffender + 1);
      expect(found.peer.userHash).toBe(offender.userHash);
      for (let i = 0; i < 3; i++) await send(offender.client, found.chatId, r.credentials.clientHash, `insult ${i}`);
      await rpc(r.client).safety.report.mutate({ chatId: found.chatId, reason: 'harassment' });
      await r.client.chat.leave(found.chatId).catch(() => undefined); // already over if the report suspended them
      return r;
    };

    const first = await reportedBy(reporters[0]!);
    await reportedBy(first); // the same reporter again, in a new chat: still one user
    expect(await admin.admin.bans.list.query()).toEqual([]);

    const before = t.clock.now();
    const second = await reportedBy(reporters[1]!);
    const [suspension] = await admin.admin.bans.list.query({ layer: 'account' });
    expect(suspension).toMatchObject({ target: offender.userHash, issuer: 'system', active: true });
    expect(suspension!.expiresAt! - before).toBeGreaterThanOrEqual(3600_000);
    expect(suspension!.expiresAt! - t.clock.now()).toBeLessThanOrEqual(3600_000);
    await waitFor(() => offender.client.state === 'closed', 'the offender kicked');
    expect(offender.client.closedReason).toBe('banned');
    expect(await second.events.next('chat.ended')).toMatchObject({ reason: 'banned' });
    const [entry] = await admin.admin.audit.list.query();
    expect(entry).toMatchObject({ action: 'suspension', actor: 'system', subject: `account:${offender.userHash}` });

    // Back after the suspension; the reports that caused it do not count again.
    t.clock.advance(Math.max(0, suspension!.expiresAt! - t.clock.now()) + 1);
    offender.client.useCredentials(offender.credentials);
    await waitFor(() => offender.client.state === 'connected', 'offender back');
    await reportedBy(reporters[2]!);
    expect(await admin.admin.bans.list.query()).toEqual([]);
    await reportedBy(reporters[3]!);
    const [permanent] = await admin.admin.bans.list.query({ layer: 'account' });
    expect(permanent).toMatchObject({ target: offender.userHash, issuer: 'system', expiresAt: null });
  });
});

describe('age', () => {
  it('is fixed at registration: no procedure but register takes an age, and none updates an account', async () => {
    const user = await newcomer(17);
    const takesAge = Object.entries(appRouter._def.procedures as unknown as Record<string, AnyTRPCProcedure>)
      .filter(([, procedure]) =>
        (procedure._def as { inputs?: unknown[] }).inputs?.some((schema) => schema instanceof ZodObject && 'age' in schema.shape),
      )
      .map(([path]) => path);
    expect(takesAge).toEqual(['account.register']);

    const untyped = rpc(user.client) as unknown as { account: Record<string, { mutate(input: unknown): Promise<unknown> }> };
    for (const name of ['update', 'setAge', 'changeAge', 'edit']) {
      expect(await codeOf(untyped.account[name]!.mutate({ age: 30 }))).toBe('NOT_FOUND');
    }
    expect((await user.client.account.me()).age).toBe(17);
  });
});
