import { render } from 'ink-testing-library';
import { describe, expect, it, vi } from 'vitest';
import type { ChatId, UserHash } from '@omechat/sdk';
import { Screen, type ScreenProps } from './screen.js';
import { initialState, reduce, type AppState, type ChatView } from './state.js';

const me = { username: 'sam_42', userHash: 'me-hash' as UserHash };
const bob = { userHash: 'bob-hash' as UserHash, username: 'bob', age: 19 };
const at = new Date(2026, 10, 30, 14, 5).getTime();

function chat(id: string, patch: Partial<ChatView> = {}): ChatView {
  return { chatId: id as ChatId, peer: bob, ended: null, unread: 0, lines: [], peerTyping: false, safetyCode: null, ...patch };
}

function screen(state: AppState, props: Partial<ScreenProps> = {}) {
  const handlers = { onSubmit: vi.fn(), onTyping: vi.fn(), onCancel: vi.fn(), onNextChat: vi.fn() };
  const view = render(<Screen state={state} {...handlers} now={() => at + 12_000} {...props} />);
  return { ...view, ...handlers };
}

async function until(check: () => void) {
  for (let i = 0; ; i++) {
    try {
      return check();
    } catch (error) {
      if (i > 200) throw error;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

describe('the app screen', () => {
  it('shows the search with its settings, the time waited and how to cancel; Esc cancels', async () => {
    const view = screen({ ...initialState(me, []), connection: 'connected', search: { since: at, tolerance: 3, interests: ['music', 'films'] } });
    expect(view.lastFrame()).toContain('Looking for someone (age tolerance ±3, interests: music, films) · 12 s · Esc to cancel');
    expect(view.lastFrame()).toContain('● connected');
    view.stdin.write('\u001b');
    await until(() => expect(view.onCancel).toHaveBeenCalled());
  });

  it('shows a chat: timestamps, who said what, delivered and read marks, typing, the safety code', () => {
    let state = initialState(me, [chat('c1'), chat('c2', { peer: { ...bob, username: 'ann' } })]);
    const event = (seq: number, own: boolean, text: string) =>
      ({ type: 'message', chatId: 'c1', seq, messageId: `m${seq}`, from: own ? me.userHash : bob.userHash, fromClientHash: 'x', sentAt: at, own, fromThisDevice: own, text }) as const;
    state = reduce(state, event(1, false, 'hi there') as never);
    state = reduce(state, event(2, true, 'hello bob') as never);
    state = reduce(state, event(3, true, 'how are you?') as never);
    state = reduce(state, { type: 'message.read', chatId: 'c1' as ChatId, seq: 2, by: bob.userHash, at });
    state = reduce(state, { type: 'message.delivered', chatId: 'c1' as ChatId, seq: 3, by: bob.userHash, at });
    state = reduce(state, { type: 'chat.typing', chatId: 'c1' as ChatId, userHash: bob.userHash, typing: true });
    state = { ...state, chats: state.chats.map((c) => (c.chatId === 'c1' ? { ...c, safetyCode: '12345 67890' } : c)) };
    const frame = screen({ ...state, connection: 'reconnecting' }).lastFrame()!;
    expect(frame).toContain('14:05 bob: hi there');
    expect(frame).toContain('14:05 you: hello bob ✓✓ read');
    expect(frame).toContain('14:05 you: how are you? ✓✓');
    expect(frame).not.toContain('how are you? ✓✓ read');
    expect(frame).toContain('bob is typing…');
    expect(frame).toContain('safety code 12345 67890');
    expect(frame).toContain('◌ reconnecting…');
  });

  it('shows a changed peer key and an E2E v1 fallback beside the safety code', () => {
    let state = initialState(me, [chat('c1', { safetyCode: '12345 67890' })]);
    state = reduce(state, { type: 'encryption.downgraded', chatId: 'c1' as ChatId, userHash: bob.userHash, clientHash: 'x' as never, version: 1 });
    expect(screen(state).lastFrame()).toContain('safety code 12345 67890 · ⚠ E2E v1: no post-quantum keys, no padding');
    state = reduce(state, { type: 'peer.identityChanged', userHash: bob.userHash, clientHash: 'x' as never, previousIdentity: 'a', identity: 'b' });
    const frame = screen(state).lastFrame()!;
    expect(frame).toContain('safety code 12345 67890 · ⚠ key changed');
    expect(frame).toContain('compare the safety code again');
  });

  it('counts unread messages of the chats not on screen, and says when a chat has ended', () => {
    let state = initialState(me, [chat('c1'), chat('c2', { peer: { ...bob, username: 'ann' } })]);
    expect(state.current).toBe('c1');
    for (const seq of [1, 2]) {
      state = reduce(state, { type: 'message', chatId: 'c2' as ChatId, seq, messageId: `m${seq}`, from: bob.userHash, fromClientHash: 'x' as never, sentAt: at, own: false, fromThisDevice: false, text: 'psst' });
    }
    state = reduce(state, { type: 'chat.ended', chatId: 'c1' as ChatId, reason: 'left', at });
    const frame = screen(state).lastFrame()!;
    expect(frame).toContain('[1] ann (2)');
    expect(frame).toContain('[2] bob ✕');
    expect(frame).toContain('left the chat. /search to meet someone new.');
  });

  it('hands typed lines to onSubmit (also several in one burst), and reports typing for text only', async () => {
    const view = screen({ ...initialState(me, [chat('c1')]), connection: 'connected' });
    view.stdin.write('hello');
    await until(() => expect(view.lastFrame()).toContain('> hello'));
    view.stdin.write('\r');
    await until(() => expect(view.onSubmit).toHaveBeenCalledWith('hello'));
    view.stdin.write('/next\rsecond line\r');
    await until(() => expect(view.onSubmit.mock.calls.map((c): unknown => c[0])).toEqual(['hello', '/next', 'second line']));
    expect(view.onTyping).toHaveBeenCalled();
    view.stdin.write('\t');
    await until(() => expect(view.onNextChat).toHaveBeenCalled());
  });
});
