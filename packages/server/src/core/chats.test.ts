import type { ChatId, OmeEvent } from '@omechat/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { codeOf, startInProcessCore, type InProcessCore } from '../test-support/in-process-core.js';

let t: InProcessCore;
afterEach(() => t.core.close());

const ofType = <K extends OmeEvent['type']>(events: OmeEvent[], type: K) => events.filter((e): e is Extract<OmeEvent, { type: K }> => e.type === type);

async function pair(t: InProcessCore) {
  const alice = await t.register(30, 'alice');
  const bob = await t.register(31, 'bob');
  const chatId = (await t.match(alice.session, bob.session))!;
  return { alice, bob, chatId };
}

describe('Chats: delivery receipts are coalesced', () => {
  it('many deliveries become one stored receipt per chat, for the sender only, at the highest seq', async () => {
    t = startInProcessCore();
    const { alice, bob, chatId } = await pair(t);
    for (let i = 0; i < 5; i++) await t.send(alice.session, bob.session, chatId);

    for (let seq = 1; seq <= 5; seq++) t.core.chats.markDelivered(chatId, bob.userHash, seq);
    t.core.chats.markDelivered(chatId, bob.userHash, 3); // a slower device of bob's, behind
    expect(ofType(await t.events(alice.userHash), 'message.delivered')).toEqual([]); // not yet: they gather first

    await t.core.chats.flushReceipts();
    expect(ofType(await t.events(alice.userHash), 'message.delivered')).toEqual([
      { type: 'message.delivered', chatId, seq: 5, by: bob.userHash, at: t.clock.now() },
    ]);
    expect(ofType(await t.events(bob.userHash), 'message.delivered')).toEqual([]);
    expect((await t.storage.chats.getCursors(chatId)).find((c) => c.userHash === bob.userHash)?.deliveredSeq).toBe(5);

    // Nothing new delivered: nothing stored at the next flush.
    t.core.chats.markDelivered(chatId, bob.userHash, 4);
    await t.core.chats.flushReceipts();
    expect(ofType(await t.events(alice.userHash), 'message.delivered')).toHaveLength(1);
  });

  it('gathers receipts of several chats into one flush, one receipt each', async () => {
    t = startInProcessCore();
    const alice = await t.register(30, 'alice');
    const [bob, carol] = [await t.register(30, 'bob'), await t.register(30, 'carol')];
    const withBob = (await t.match(alice.session, bob.session))!;
    const withCarol = (await t.match(alice.session, carol.session))!;
    await t.send(alice.session, bob.session, withBob);
    await t.send(alice.session, carol.session, withCarol);
    await t.send(alice.session, carol.session, withCarol);
    t.core.chats.markDelivered(withBob, bob.userHash, 1);
    t.core.chats.markDelivered(withCarol, carol.userHash, 1);
    t.core.chats.markDelivered(withCarol, carol.userHash, 2);
    await t.core.chats.flushReceipts();
    const receipts = ofType(await t.events(alice.userHash), 'message.delivered').map((e) => [e.chatId, e.seq, e.by]);
    expect(receipts.sort()).toEqual(
      [
        [withBob, 1, bob.userHash],
        [withCarol, 2, carol.userHash],
      ].sort(),
    );
  });

  it('a read receipt goes to both members at once, never beyond the last message, and only forwards', async () => {
    t = startInProcessCore();
    const { alice, bob, chatId } = await pair(t);
    await t.send(alice.session, bob.session, chatId);
    await t.send(alice.session, bob.session, chatId);
    await t.core.chats.markRead(bob.session, { chatId, seq: 99 });
    await t.core.chats.markRead(bob.session, { chatId, seq: 1 });
    const read = { type: 'message.read', chatId, seq: 2, by: bob.userHash, at: t.clock.now() };
    expect(ofType(await t.events(alice.userHash), 'message.read')).toEqual([read]);
    expect(ofType(await t.events(bob.userHash), 'message.read')).toEqual([read]);
    expect((await t.core.chats.list(bob.session))[0]?.unread).toBe(0);
  });
});

describe('Chats: membership and ended chats', () => {
  it('a stranger cannot send, read or leave; a retried send is stored once', async () => {
    t = startInProcessCore();
    const { alice, bob, chatId } = await pair(t);
    const mallory = await t.register(30, 'mallory');
    expect(await codeOf(t.send(mallory.session, bob.session, chatId))).toBe('FORBIDDEN');
    expect(await codeOf(t.core.chats.history(mallory.session, { chatId, limit: 10 }))).toBe('FORBIDDEN');
    expect(await codeOf(t.core.chats.history(mallory.session, { chatId: 'chat_missing' as ChatId, limit: 10 }))).toBe('FORBIDDEN');
    expect(await codeOf(t.core.chats.leave(mallory.session, chatId))).toBe('FORBIDDEN');

    const input = { chatId, envelope: { v: 1 as const, parts: [{ to: bob.session.clientHash, header: 'aA', ciphertext: 'aA' }] }, clientMessageId: 'once' };
    const first = await t.core.chats.send(alice.session, input);
    const retry = await t.core.chats.send(alice.session, input);
    expect(retry).toEqual(first);
    expect((await t.core.chats.history(bob.session, { chatId, limit: 10 })).messages).toHaveLength(1);
  });

  it('leaving ends the chat for both: no more sends, both told once, and the peer sees who left', async () => {
    t = startInProcessCore();
    const { alice, bob, chatId } = await pair(t);
    await t.core.chats.leave(alice.session, chatId);
    await t.core.chats.leave(bob.session, chatId); // already ended: nothing more
    expect(await codeOf(t.send(bob.session, alice.session, chatId))).toBe('CHAT_ENDED');
    for (const who of [alice, bob]) {
      expect(ofType(await t.events(who.userHash), 'chat.ended')).toEqual([{ type: 'chat.ended', chatId, reason: 'left', at: t.clock.now() }]);
    }
  });
});
