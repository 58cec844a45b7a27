import { afterEach, describe, expect, it } from 'vitest';
import { envelopeFor, recorder, signUpFrom, startTestServer, waitFor, type TestServer } from '../harness.js';
import { ADMIN_TOKEN, adminClient, rpc } from '../safety-harness.js';

/**
 * Issue 15, point 9: three accounts registered minutes earlier, each matched with the
 * victim, each reporting 'harassment' with no message exchanged, suspended the victim
 * (4004, BANNED; repeated: 4 days, 16 days, for good). Now a report weighs by what it cost
 * (docs/safety.md, "Automatic suspension"): the reporter's account age and history, one per
 * network, and only where the reported user did talk. Below that it waits for a moderator.
 */
const DAY = 86_400_000;
let t: TestServer;
const open: { close(): unknown }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await t.destroy();
});

async function person(from: string) {
  const user = await signUpFrom(t.url, from, 30);
  open.push(user.client);
  const events = recorder(user.client);
  await user.client.eventsLive();
  return { ...user, events };
}
type Person = Awaited<ReturnType<typeof person>>;

/**
 * `reporter` is matched with `target`; the target says `said` things in the chat; the
 * reporter reports the chat and leaves it. Resolves once the report is answered, which is
 * after any suspension it caused was issued.
 */
async function meetAndReport(target: Person, reporter: Person, said: number) {
  const seen = reporter.events.of('match.found').length;
  const seenByTarget = target.events.of('match.found').length;
  await target.client.match.start({ tolerance: 0 });
  await reporter.client.match.start({ tolerance: 0 });
  const found = await reporter.events.next('match.found', seen + 1);
  await target.events.next('match.found', seenByTarget + 1);
  expect(found.peer.userHash).toBe(target.userHash);
  for (let i = 0; i < said; i++) {
    const envelope = envelopeFor([reporter.credentials.clientHash], `message ${i}`);
    await rpc(target.client).message.send.mutate({ chatId: found.chatId, envelope, clientMessageId: `${found.chatId}-${i}` });
  }
  await rpc(reporter.client).safety.report.mutate({ chatId: found.chatId, reason: 'harassment' });
  await reporter.client.chat.leave(found.chatId).catch(() => undefined); // over already if the report suspended the target
}

describe('report brigading', () => {
  it('fresh accounts, or aged ones on one network, or reports of a silent user: queued for moderators, nobody suspended', async () => {
    t = await startTestServer({ OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN });
    const admin = adminClient(t.url);
    open.push(admin);
    const victim = await person('127.0.0.2');

    // The attack as reproduced, made stronger: three fresh accounts, each on a network of its
    // own, reporting with no message exchanged.
    for (const net of ['127.0.1.2', '127.0.2.2', '127.0.3.2']) await meetAndReport(victim, await person(net), 0);
    // Three more fresh ones, and this time the victim did talk to each.
    for (const net of ['127.0.4.2', '127.0.5.2', '127.0.6.2']) await meetAndReport(victim, await person(net), 3);
    // Sock puppets made a month ago, all on the attacker's one network, with a conversation each.
    const puppets = [await person('127.0.7.2'), await person('127.0.7.3'), await person('127.0.7.4')];
    t.clock.advance(30 * DAY);
    for (const puppet of puppets) await meetAndReport(victim, puppet, 3);
    // Old accounts on distinct networks, but the victim never said a word.
    const strangers = [await person('127.0.8.2'), await person('127.0.9.2'), await person('127.0.10.2')];
    t.clock.advance(30 * DAY);
    for (const stranger of strangers) await meetAndReport(victim, stranger, 0);

    // Every report was answered before this point, so any suspension would exist by now.
    expect(await admin.trpc.admin.bans.list.query({ status: 'all' })).toEqual([]);
    expect(victim.client.state).toBe('connected');
    expect(await victim.client.account.me()).toMatchObject({ userHash: victim.userHash });
    const queued = await admin.trpc.admin.reports.list.query({ status: 'open', limit: 100 });
    expect(queued.filter((r) => r.reported === victim.userHash)).toHaveLength(12);
  });

  it('a real pattern of abuse still suspends: aged reporters on three networks, each harassed in a conversation', async () => {
    t = await startTestServer({ OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN });
    const admin = adminClient(t.url);
    open.push(admin);
    const offender = await person('127.0.0.2');
    const reporters = [await person('127.0.1.2'), await person('127.0.2.2'), await person('127.0.3.2')];
    t.clock.advance(8 * DAY); // the reporters' accounts are a week old: full weight

    await meetAndReport(offender, reporters[0]!, 3);
    await meetAndReport(offender, reporters[1]!, 3);
    expect(await admin.trpc.admin.bans.list.query({ status: 'all' })).toEqual([]);
    await meetAndReport(offender, reporters[2]!, 3);

    const [suspension] = await admin.trpc.admin.bans.list.query({ layer: 'account' });
    expect(suspension).toMatchObject({ target: offender.userHash, issuer: 'system', active: true, reason: 'automatic: reports weighing 3 from 3 networks' });
    await waitFor(() => offender.client.state === 'closed', 'the offender kicked');
    expect(offender.client.closedReason).toBe('banned');
  });
});
