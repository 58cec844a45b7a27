import { afterEach, describe, expect, it } from 'vitest';
import { startInProcessCore, type InProcessCore } from '../test-support/in-process-core.js';

let t: InProcessCore;
afterEach(() => t.core.close());

/** Who `userHash` shares an active chat with. */
const partners = async (userHash: Parameters<InProcessCore['core']['chats']['activePeers']>[0]) => t.core.chats.activePeers(userHash);

describe('Matchmaking (ATSS): who may meet whom', () => {
  it('never pairs a minor with an adult, whatever both accept', async () => {
    t = startInProcessCore();
    const minor = await t.register(17);
    const adult = await t.register(18);
    expect(await t.match(minor.session, adult.session, 5)).toBeNull();
    expect(await partners(minor.userHash)).toEqual([]);
    // Each still meets someone on their own side of the line.
    const peer = await t.register(16);
    expect(await t.core.matchmaking.start(peer.session, { tolerance: 1 })).toMatchObject({ queued: false });
    expect(await partners(minor.userHash)).toEqual([peer.userHash]);
    const grown = await t.register(23);
    expect(await t.core.matchmaking.start(grown.session, { tolerance: 5 })).toMatchObject({ queued: false });
    expect(await partners(adult.userHash)).toEqual([grown.userHash]);
  });

  it('takes the smaller of the two tolerances: both must accept the age gap', async () => {
    t = startInProcessCore();
    const thirty = await t.register(30);
    const thirtyFour = await t.register(34);
    // 4 years apart: the 34-year-old, waiting, accepts only 2; the 30-year-old arriving accepts 5.
    await t.core.matchmaking.start(thirtyFour.session, { tolerance: 2 });
    expect(await t.core.matchmaking.start(thirty.session, { tolerance: 5 })).toEqual({ queued: true, chatId: null });
    // Someone within both their ranges meets the one who waited longest.
    const thirtyThree = await t.register(33);
    expect((await t.core.matchmaking.start(thirtyThree.session, { tolerance: 3 })).chatId).not.toBeNull();
    expect(await partners(thirtyFour.userHash)).toEqual([thirtyThree.userHash]);
    expect(await partners(thirty.userHash)).toEqual([]);
  });

  it('a tolerance of 0 meets only the same age', async () => {
    t = startInProcessCore();
    const a = await t.register(25);
    const b = await t.register(26);
    expect(await t.match(a.session, b.session, 0)).toBeNull();
    const c = await t.register(25);
    expect((await t.core.matchmaking.start(c.session, { tolerance: 0 })).chatId).not.toBeNull();
    expect(await partners(a.userHash)).toEqual([c.userHash]);
  });
});

describe('Matchmaking: exclusions', () => {
  it('a block in either direction keeps two users apart until it is lifted', async () => {
    t = startInProcessCore();
    const alice = await t.register(30);
    const bob = await t.register(30);
    await t.core.moderation.block(bob.session, alice.userHash); // bob blocked alice: alice is kept from bob too
    expect(await t.match(alice.session, bob.session)).toBeNull();
    await t.core.matchmaking.tick();
    expect(await partners(alice.userHash)).toEqual([]);

    await t.core.moderation.unblock(bob.session, alice.userHash);
    await t.core.matchmaking.cancel(bob.userHash);
    expect((await t.core.matchmaking.start(bob.session, { tolerance: 5 })).chatId).not.toBeNull();
    expect(await partners(alice.userHash)).toEqual([bob.userHash]);
  });

  it('two users already in a chat together are not paired again', async () => {
    t = startInProcessCore();
    const alice = await t.register(30);
    const bob = await t.register(30);
    expect(await t.match(alice.session, bob.session)).not.toBeNull();
    expect(await t.match(alice.session, bob.session)).toBeNull();
    const carol = await t.register(30);
    await t.core.matchmaking.start(carol.session, { tolerance: 5 });
    expect((await partners(carol.userHash)).length).toBe(1);
  });

  it('after one leaves, the two are kept apart for the rematch time, then may meet again', async () => {
    t = startInProcessCore({ rematchAfterMs: 30_000 }); // tickets live 60 s
    const alice = await t.register(30);
    const bob = await t.register(30);
    const chatId = (await t.match(alice.session, bob.session))!;
    await t.core.chats.leave(alice.session, chatId);

    expect(await t.match(alice.session, bob.session)).toBeNull();
    // bob tries again (a new ticket meets whoever waits) while alice waits.
    const retry = async () => {
      await t.core.matchmaking.cancel(bob.userHash);
      return (await t.core.matchmaking.start(bob.session, { tolerance: 5 })).chatId;
    };
    t.clock.advance(29_000);
    expect(await retry()).toBeNull();
    t.clock.advance(1_001);
    expect(await retry()).not.toBeNull();
    expect(await partners(alice.userHash)).toEqual([bob.userHash]);
  });

  it('without a rematch time, two who just left each other may meet again at once', async () => {
    t = startInProcessCore();
    const alice = await t.register(30);
    const bob = await t.register(30);
    await t.core.chats.leave(alice.session, (await t.match(alice.session, bob.session))!);
    expect(await t.match(alice.session, bob.session)).not.toBeNull();
  });

  it('a waiting ticket expires after its time to live', async () => {
    t = startInProcessCore();
    const alice = await t.register(30);
    await t.core.matchmaking.start(alice.session, { tolerance: 5 });
    t.clock.advance(60_001);
    await t.core.matchmaking.tick();
    const bob = await t.register(30);
    expect(await t.core.matchmaking.start(bob.session, { tolerance: 5 })).toEqual({ queued: true, chatId: null });
  });
});
