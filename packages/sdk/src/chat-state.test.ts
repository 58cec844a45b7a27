import { describe, expect, it } from 'vitest';
import type { ChatId, ClientHash, UserHash } from '@omechat/protocol';
import { describeEnd, initialChatState, openChat, reduceChats, statusOf, type ChatAction, type ChatState } from './chat-state.js';

const me = 'me-hash' as UserHash;
const bob = { userHash: 'bob-hash' as UserHash, username: 'bob', age: 30 };
const ann = { userHash: 'ann-hash' as UserHash, username: 'ann', age: 31 };
const c = (id: string) => id as ChatId;
const found = (chatId: string, peer = bob): ChatAction => ({ type: 'match.found', chatId: c(chatId), peer, at: 1 });
const message = (chatId: string, seq: number, own: boolean, text = `m${seq}`): ChatAction => ({
  type: 'message',
  chatId: c(chatId),
  seq,
  messageId: `m${seq}`,
  from: own ? me : bob.userHash,
  fromClientHash: 'device' as ClientHash,
  sentAt: 1000 + seq,
  own,
  fromThisDevice: own,
  text,
});
const run = (actions: ChatAction[], state: ChatState = initialChatState(me)) => actions.reduce(reduceChats, state);

describe('chat state', () => {
  it('numbers chats in arrival order, so a new chat never shifts the others, and opens the new match', () => {
    const state = run([found('c1'), found('c2', ann), { type: 'chat.opened', chatId: c('c1') }, found('c3')]);
    expect(state.chats.map((x) => [x.chatId, x.number])).toEqual([['c1', 1], ['c2', 2], ['c3', 3]]);
    expect(state.open).toBe('c3');
    // Loaded again from the server (after a reconnect): same numbers, new ones after.
    const again = reduceChats(state, { type: 'chats.loaded', chats: [{ summary: { chatId: c('c9'), peer: ann, state: 'active', endReason: null, unread: 0 } }] });
    expect(again.chats.map((x) => x.number)).toEqual([1, 2, 3, 4]);
  });

  it('counts unread only for chats not on screen, and clears them when opened or read on another device', () => {
    let state = run([found('c1'), found('c2'), message('c1', 1, false), message('c1', 2, false), message('c2', 1, false), message('c1', 3, true)]);
    expect(state.chats.map((x) => x.unread)).toEqual([2, 0]);
    state = reduceChats(state, { type: 'message.read', chatId: c('c1'), seq: 1, by: me, at: 1 });
    expect(state.chats[0]!.unread).toBe(1);
    state = reduceChats(state, { type: 'chat.opened', chatId: c('c1') });
    expect(state.chats[0]!.unread).toBe(0);
    expect(openChat(state)?.chatId).toBe('c1');
  });

  it('marks own messages sent, delivered and read, forward only, and ignores a message seen twice', () => {
    let state = run([found('c1'), message('c1', 1, true), message('c1', 2, true), message('c1', 3, true), message('c1', 3, true)]);
    state = run([
      { type: 'message.read', chatId: c('c1'), seq: 1, by: bob.userHash, at: 1 },
      { type: 'message.delivered', chatId: c('c1'), seq: 2, by: bob.userHash, at: 1 },
      { type: 'message.delivered', chatId: c('c1'), seq: 1, by: bob.userHash, at: 1 },
    ], state);
    const chat = state.chats[0]!;
    expect(chat.lines.map((l) => statusOf(chat, l))).toEqual(['read', 'delivered', 'sent']);
  });

  it('shows typing from the peer only, stops it with their message or the end, and says who ended the chat', () => {
    let state = run([found('c1'), { type: 'chat.typing', chatId: c('c1'), userHash: bob.userHash, typing: true }]);
    expect(state.chats[0]!.peerTyping).toBe(true);
    state = run([message('c1', 1, false)], state);
    expect(state.chats[0]!.peerTyping).toBe(false);
    state = run([{ type: 'chat.typing', chatId: c('c1'), userHash: bob.userHash, typing: true }, { type: 'chat.ended', chatId: c('c1'), reason: 'left', by: 'peer', at: 2 }], state);
    expect(state.chats[0]!.peerTyping).toBe(false);
    expect(describeEnd(state.chats[0]!)).toBe('bob left the chat.');
    const mine = run([found('c2'), { type: 'chat.ended', chatId: c('c2'), reason: 'left', by: 'you', at: 2 }]);
    expect(describeEnd(mine.chats[0]!)).toBe('You left the chat.');
    const blocked = run([found('c3'), { type: 'chat.ended', chatId: c('c3'), reason: 'blocked', by: null, at: 2 }]);
    expect(describeEnd(blocked.chats[0]!)).toBe('The chat was ended by a block.');
  });

  it('starts from stored chats with their lines and marks: the same receipts and ending as before a restart', () => {
    const state = initialChatState(me, [
      { summary: { chatId: c('old'), peer: ann, state: 'ended', endReason: 'left', unread: 0 }, marks: { deliveredSeq: 0, readSeq: 0, leftByYou: true } },
      {
        summary: { chatId: c('live'), peer: bob, state: 'active', endReason: null, unread: 1 },
        lines: [{ seq: 2, own: false, text: 'hi', sentAt: 2 }, { seq: 1, own: true, text: 'hello', sentAt: 1 }],
        marks: { deliveredSeq: 1, readSeq: 1, leftByYou: false },
      },
    ]);
    expect(state.open).toBe('live');
    expect(describeEnd(state.chats[0]!)).toBe('You left the chat.');
    const live = state.chats[1]!;
    expect(live.lines.map((l) => [l.text, statusOf(live, l)])).toEqual([['hello', 'read'], ['hi', null]]);
  });

  it('keeps a message this device could not read as a line without text', () => {
    const state = run([found('c1'), { type: 'message.undecryptable', chatId: c('c1'), seq: 1, messageId: 'm1', from: bob.userHash, fromClientHash: 'd' as ClientHash, code: 'NO_SESSION' }]);
    expect(state.chats[0]!.lines).toEqual([{ seq: 1, own: false, text: null, sentAt: 0 }]);
  });
});
