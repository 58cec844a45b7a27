import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recorder, signUp, startTestServer, waitFor, type TestServer } from './harness.js';

let t: TestServer;
const open: { close(): Promise<void> }[] = [];
beforeEach(async () => {
  t = await startTestServer();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await t.destroy();
});

async function user(age: number) {
  const u = await signUp(t.url, age);
  open.push(u.client);
  const events = recorder(u.client);
  await u.client.eventsLive();
  return { ...u, events };
}

/**
 * No match was made for `u`: read from the server rather than from events that might still
 * be on their way. A match creates the chat and both match.found events atomically, so a
 * user without a chat has no match.found coming.
 */
async function unmatched(u: { client: { chat: { list(): Promise<unknown[]> } } }) {
  expect(await u.client.chat.list()).toEqual([]);
}

describe('matching (ATSS)', () => {
  it('pairs 15 with 17 and 18 with 22 at tolerance 5, and never 17 with 18', async () => {
    const u17 = await user(17);
    const u18 = await user(18);
    const u22 = await user(22);
    const u15 = await user(15);
    expect((await u17.client.match.start({ tolerance: 5 })).queued).toBe(true);
    expect((await u18.client.match.start({ tolerance: 5 })).queued).toBe(true);
    await unmatched(u17);
    await unmatched(u18);

    expect((await u22.client.match.start({ tolerance: 5 })).queued).toBe(false);
    expect((await u15.client.match.start({ tolerance: 5 })).queued).toBe(false);
    const found18 = await u18.events.next('match.found');
    const found22 = await u22.events.next('match.found');
    expect(found18.peer).toMatchObject({ userHash: u22.userHash, age: 22, username: u22.username });
    expect(found22.peer).toMatchObject({ userHash: u18.userHash, age: 18 });
    expect(found18.chatId).toBe(found22.chatId);
    expect((await u17.events.next('match.found')).peer.age).toBe(15);
    expect((await u15.events.next('match.found')).peer.age).toBe(17);
  });

  it('requires the age gap to fit both tolerances', async () => {
    const waiting = await user(22);
    const narrow = await user(25);
    const close = await user(24);
    await waiting.client.match.start({ tolerance: 5 });
    expect((await narrow.client.match.start({ tolerance: 2 })).queued).toBe(true);
    await unmatched(waiting);
    expect((await close.client.match.start({ tolerance: 2 })).queued).toBe(false);
    expect((await waiting.events.next('match.found')).peer.userHash).toBe(close.userHash);
  });

  it('gives the match to the compatible ticket that has waited longest', async () => {
    const first = await user(30);
    const second = await user(32);
    const arriving = await user(31);
    await first.client.match.start({ tolerance: 1 });
    await second.client.match.start({ tolerance: 1 }); // 30 and 32 are 2 apart: both wait
    await arriving.client.match.start({ tolerance: 1 });
    expect((await arriving.events.next('match.found')).peer.userHash).toBe(first.userHash);
    await unmatched(second);
    expect(await t.core.deps.matcher.has(second.userHash)).toBe(true);
  });

  it('withdraws a cancelled ticket and the ticket of a user whose last connection closed', async () => {
    const cancels = await user(40);
    const leaves = await user(40);
    const arriving = await user(40);
    await cancels.client.match.start({ tolerance: 0 });
    expect(await cancels.client.match.cancel()).toBe(true);
    await leaves.client.match.start({ tolerance: 0 });
    await leaves.client.close();
    await waitFor(async () => (await t.core.deps.matcher.size()) === 0, 'the ticket to be withdrawn');
    expect((await arriving.client.match.start({ tolerance: 0 })).queued).toBe(true);
    await unmatched(arriving);
    await unmatched(cancels);
  });

  it('does not pair two users again while they share an active chat, nor for 30 minutes after it ends ("next")', async () => {
    const a = await user(50);
    const b = await user(50);
    await a.client.match.start({ tolerance: 0 });
    await b.client.match.start({ tolerance: 0 });
    const { chatId } = await a.events.next('match.found');
    await a.client.match.start({ tolerance: 0 });
    expect((await b.client.match.start({ tolerance: 0 })).queued).toBe(true);
    // b presses "next": leaves, and searches again at once. a is the only one waiting.
    await b.client.chat.leave(chatId);
    await b.client.match.cancel();
    expect((await b.client.match.start({ tolerance: 0 })).queued).toBe(true);
    // A third person is paired with the one who waited longer (a); b goes on waiting.
    const c = await user(50);
    expect((await c.client.match.start({ tolerance: 0 })).queued).toBe(false);
    expect((await a.events.next('match.found', 2)).peer.userHash).toBe(c.userHash);
    expect(await b.client.match.cancel()).toBe(true);

    // OMECHAT_MATCH_REMATCH_AFTER_MS (30 minutes by default) later, a and b may meet again.
    t.clock.advance(30 * 60_000);
    await a.client.match.start({ tolerance: 0 });
    expect((await b.client.match.start({ tolerance: 0 })).queued).toBe(false);
  });

  it('prefers a shared interest, then relaxes after the configured wait', async () => {
    await t.destroy();
    t = await startTestServer({ OMECHAT_MATCH_INTEREST_RELAX_MS: '1500' });
    const cats = await user(60);
    const dogs = await user(60);
    const catsToo = await user(60);
    await cats.client.match.start({ tolerance: 0, interests: ['cats'] });
    expect((await dogs.client.match.start({ tolerance: 0, interests: ['dogs'] })).queued).toBe(true);
    expect((await catsToo.client.match.start({ tolerance: 0, interests: ['Cats'] })).queued).toBe(false);
    expect((await cats.events.next('match.found')).peer.userHash).toBe(catsToo.userHash);

    const birds = await user(60);
    await birds.client.match.start({ tolerance: 0, interests: ['birds'] });
    // Neither shares an interest; once the relax period has passed (on the server's clock,
    // moved on rather than waited for) the background sweep pairs them.
    t.clock.advance(1500);
    expect((await dogs.events.next('match.found')).peer.userHash).toBe(birds.userHash);
  });
});
