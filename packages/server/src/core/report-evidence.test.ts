import { afterEach, describe, expect, it } from 'vitest';
import type { ClientHash, UserHash } from '@omechat/protocol';
import { cryptoRandom } from '../adapters/crypto/crypto-random.js';
import { DAY, startInProcessCore, type InProcessCore } from '../test-support/in-process-core.js';
import type { Core } from './app.js';
import type { EscalationOptions } from './moderation.js';
import { evidenceScore, reportWeight, type EvidenceRule, type ReportEvidence } from './report-evidence.js';

const rule: EvidenceRule = { minMessages: 3, minReporterAgeMs: DAY, fullReporterAgeMs: 7 * DAY };

describe('report weight', () => {
  const evidence = (over: Partial<ReportEvidence> = {}): ReportEvidence => ({
    reporter: 'r' as UserHash,
    networks: ['n'],
    reporterAgeMs: 30 * DAY,
    dismissedReports: 0,
    messagesFromReported: 3,
    ...over,
  });

  it('is nothing without a conversation or from a young account; half, then whole, with age; less after dismissals', () => {
    expect(reportWeight(evidence(), rule)).toBe(1);
    expect(reportWeight(evidence({ messagesFromReported: 2 }), rule)).toBe(0);
    expect(reportWeight(evidence({ reporterAgeMs: DAY - 1 }), rule)).toBe(0);
    expect(reportWeight(evidence({ reporterAgeMs: DAY }), rule)).toBe(0.5);
    expect(reportWeight(evidence({ reporterAgeMs: 7 * DAY }), rule)).toBe(1);
    expect(reportWeight(evidence({ dismissedReports: 1 }), rule)).toBe(0.5);
    expect(reportWeight(evidence({ dismissedReports: 3, reporterAgeMs: 2 * DAY }), rule)).toBe(0.125);
  });

  it('counts reporters who share a network once, with their best report', () => {
    const r = (reporter: string, networks: string[], over: Partial<ReportEvidence> = {}) =>
      evidence({ reporter: reporter as UserHash, networks, ...over });
    // a and b share n1; b and c share n2: one group. d is alone.
    const reports = [r('a', ['n1']), r('b', ['n1', 'n2'], { reporterAgeMs: 2 * DAY }), r('c', ['n2']), r('d', ['n3'])];
    expect(evidenceScore(reports, rule)).toEqual({ score: 2, groups: 2 });
    expect(evidenceScore([r('a', ['n1'], { reporterAgeMs: 0 }), r('b', ['n1'], { reporterAgeMs: 2 * DAY })], rule).score).toBe(0.5);
    // The same reporter twice (two chats) is one reporter.
    expect(evidenceScore([r('a', ['n1']), r('a', ['n1'])], rule)).toEqual({ score: 1, groups: 1 });
    // Seen on no network: no distinct network shown, nothing counted.
    expect(evidenceScore([r('a', []), r('b', ['n2'])], rule)).toEqual({ score: 1, groups: 1 });
  });
});

describe('automatic suspension, in the core (MemoryStorage, test clock)', () => {
  let t: InProcessCore;
  afterEach(() => t.core.close());
  const start = (escalation: Partial<EscalationOptions> = {}) => {
    t = startInProcessCore({ escalation: { reporters: 3, windowMs: DAY, suspensionMs: DAY, factor: 4, suspensionsBeforePermanent: 3, ...rule, ...escalation } });
    ({ core, storage, clock } = t);
  };
  let core: Core;
  let storage: InProcessCore['storage'];
  let clock: InProcessCore['clock'];

  let n = 0;
  async function user(ageMs: number) {
    const userHash = cryptoRandom.userHash();
    const name = `u${++n}`;
    await storage.accounts.createUser({ userHash, username: name, usernameKey: name, age: 30, secretHash: 'x', createdAt: clock.now() - ageMs });
    return { userHash, clientHash: cryptoRandom.clientHash() };
  }
  const victimMessages = 3;
  /** A chat between the two in which `talker` (if any) sends `count` messages. */
  async function chat(a: UserHash, b: UserHash, talker: UserHash | null, count = victimMessages) {
    const chatId = cryptoRandom.chatId();
    const at = clock.now();
    await storage.chats.createChat({ chatId, members: [a, b], state: 'active', createdAt: at, endedAt: null, endReason: null, lastSeq: 0, lastActivityAt: at }, []);
    for (let i = 0; talker && i < count; i++) {
      await storage.chats.appendMessage({
        chatId,
        messageId: cryptoRandom.messageId(),
        senderUserHash: talker,
        senderClientHash: 'device_0123456789abcd' as ClientHash,
        clientMessageId: `m${i}`,
        envelope: { v: 1, parts: [{ to: 'device_0123456789abce' as ClientHash, header: 'aA', ciphertext: 'aA' }] },
        sentAt: at,
      });
    }
    return chatId;
  }
  /** `reporter` is matched with `victim`, the victim talks (or not), the reporter reports from `network`. */
  async function report(reporter: Awaited<ReturnType<typeof user>>, victim: UserHash, network: string, talks = true) {
    const chatId = await chat(reporter.userHash, victim, talks ? victim : reporter.userHash);
    await core.moderation.report(reporter, { chatId, reason: 'harassment' }, [network]);
  }
  const suspended = async (victim: UserHash) => (await core.moderation.banFor({ userHash: victim }))?.layer === 'account';
  const queued = async () => (await core.moderation.listReports({ status: 'open', limit: 100, offset: 0 })).length;

  it('three fresh accounts on three networks: queued, not suspended', async () => {
    start();
    const victim = await user(90 * DAY);
    for (let i = 0; i < 3; i++) await report(await user(60_000), victim.userHash, `net-${i}`);
    expect(await suspended(victim.userHash)).toBe(false);
    expect(await queued()).toBe(3);
  });

  it('three old accounts from one network, or without a conversation: queued, not suspended', async () => {
    start();
    const victim = await user(90 * DAY);
    for (let i = 0; i < 5; i++) await report(await user(30 * DAY), victim.userHash, 'same-net');
    const silent = await user(90 * DAY);
    for (let i = 0; i < 5; i++) await report(await user(30 * DAY), silent.userHash, `net-${i}`, false);
    expect(await suspended(victim.userHash)).toBe(false);
    expect(await suspended(silent.userHash)).toBe(false);
    expect(await queued()).toBe(10);
  });

  it('accounts that were ever seen on a shared network count once, wherever they report from', async () => {
    start();
    const victim = await user(90 * DAY);
    const reporters = [await user(30 * DAY), await user(30 * DAY), await user(30 * DAY)];
    for (const r of reporters) await core.moderation.seen(r, ['the-attackers-home']);
    for (const [i, r] of reporters.entries()) await report(r, victim.userHash, `vpn-${i}`);
    expect(await suspended(victim.userHash)).toBe(false);
  });

  it('a real pattern (old accounts, distinct networks, the reported user talked) suspends at the third', async () => {
    start();
    const victim = await user(90 * DAY);
    await report(await user(30 * DAY), victim.userHash, 'net-a');
    await report(await user(30 * DAY), victim.userHash, 'net-b');
    expect(await suspended(victim.userHash)).toBe(false);
    await report(await user(30 * DAY), victim.userHash, 'net-c');
    expect(await suspended(victim.userHash)).toBe(true);
    const [ban] = await core.moderation.listBans({ status: 'active', layer: 'account', limit: 10, offset: 0 });
    expect(ban).toMatchObject({ target: victim.userHash, issuer: 'system', reason: 'automatic: reports weighing 3 from 3 networks' });
  });

  it('younger reporters count half, so it takes six; a reporter whose reports were dismissed counts less', async () => {
    start();
    const victim = await user(90 * DAY);
    for (let i = 0; i < 5; i++) await report(await user(2 * DAY), victim.userHash, `net-${i}`);
    expect(await suspended(victim.userHash)).toBe(false);
    await report(await user(2 * DAY), victim.userHash, 'net-5');
    expect(await suspended(victim.userHash)).toBe(true);

    const other = await user(90 * DAY);
    const liar = await user(30 * DAY);
    const someone = await user(90 * DAY);
    await report(liar, someone.userHash, 'net-liar');
    const [first] = (await core.moderation.listReports({ status: 'open', limit: 100, offset: 0 })).filter((r) => r.reporter === liar.userHash);
    await core.moderation.resolveReport({ moderator: 'mod' }, { reportId: first!.reportId, resolution: 'dismissed' });
    await report(liar, other.userHash, 'net-liar');
    await report(await user(30 * DAY), other.userHash, 'net-x');
    await report(await user(30 * DAY), other.userHash, 'net-y');
    expect(await suspended(other.userHash)).toBe(false); // 0.5 + 1 + 1
    await report(await user(2 * DAY), other.userHash, 'net-z');
    expect(await suspended(other.userHash)).toBe(true); // + 0.5
  });

  it('with the evidence rule off (ages and messages 0), distinct networks alone still matter', async () => {
    start({ minMessages: 0, minReporterAgeMs: 0, fullReporterAgeMs: 0 });
    const victim = await user(90 * DAY);
    for (let i = 0; i < 3; i++) await report(await user(0), victim.userHash, 'one-net', false);
    expect(await suspended(victim.userHash)).toBe(false);
    for (let i = 0; i < 2; i++) await report(await user(0), victim.userHash, `net-${i}`, false);
    expect(await suspended(victim.userHash)).toBe(true);
  });
});
