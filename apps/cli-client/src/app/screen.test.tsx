import { render } from 'ink-testing-library';
import { describe, expect, it, vi } from 'vitest';
import type { ChatId, ClientEvent, ClientHash, OmeChatClient, UserHash } from '@omechat/sdk';
import type { LoadedChat } from '@omechat/sdk/chat-state';
import { Screen, type ScreenProps } from './screen.js';
import { initialState, reduce, scrolled, type AppState } from './state.js';
import { Actions, USAGE } from './run.js';

const me = { username: 'sam_42', userHash: 'me-hash' as UserHash };
const bob = { userHash: 'bob-hash' as UserHash, username: 'bob', age: 19 };
const at = new Date(2026, 10, 30, 14, 5).getTime();

const loaded = (id: string, peer = bob, state: 'active' | 'ended' = 'active'): LoadedChat => ({
  summary: { chatId: id as ChatId, peer, state, endReason: state === 'ended' ? 'left' : null, unread: 0 },
});
const message = (chatId: string, seq: number, own: boolean, text: string): ClientEvent => ({
  type: 'message',
  chatId: chatId as ChatId,
  seq,
  messageId: `m${seq}`,
  from: own ? me.userHash : bob.userHash,
  fromClientHash: 'x' as ClientHash,
  sentAt: at,
  own,
  fromThisDevice: own,
  text,
});
const apply = (state: AppState, events: Parameters<typeof reduce>[1][]) => events.reduce(reduce, state);

function screen(state: AppState, props: Partial<ScreenProps> = {}) {
  const handlers = { onSubmit: vi.fn(), onTyping: vi.fn(), onCancel: vi.fn(), onNextChat: vi.fn(), onScroll: vi.fn() };
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
    const view = screen({ ...initialState(me), connection: 'connected', search: { since: at, tolerance: 3, interests: ['music', 'films'] } });
    expect(view.lastFrame()).toContain('Looking for someone (age tolerance ±3, interests: music, films) · 12 s · Esc to cancel');
    expect(view.lastFrame()).toContain('● connected');
    view.stdin.write('\u001b');
    await until(() => expect(view.onCancel).toHaveBeenCalled());
  });

  it('shows a chat: timestamps, who said what, delivered and read marks, typing, the safety code', () => {
    let state = initialState(me, [loaded('c1'), loaded('c2', { ...bob, username: 'ann' })]);
    state = apply(state, [
      message('c1', 1, false, 'hi there'),
      message('c1', 2, true, 'hello bob'),
      message('c1', 3, true, 'how are you?'),
      { type: 'message.read', chatId: 'c1' as ChatId, seq: 2, by: bob.userHash, at },
      { type: 'message.delivered', chatId: 'c1' as ChatId, seq: 3, by: bob.userHash, at },
      { type: 'chat.typing', chatId: 'c1' as ChatId, userHash: bob.userHash, typing: true },
    ]);
    state = { ...state, safetyCodes: { ['c1' as ChatId]: '12345 67890' } };
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
    let state: AppState = { ...initialState(me, [loaded('c1')]), safetyCodes: { ['c1' as ChatId]: '12345 67890' } };
    state = reduce(state, { type: 'encryption.downgraded', chatId: 'c1' as ChatId, userHash: bob.userHash, clientHash: 'x' as never, version: 1 });
    expect(screen(state).lastFrame()).toContain('safety code 12345 67890 · ⚠ E2E v1: no post-quantum keys, no padding');
    state = reduce(state, { type: 'peer.identityChanged', userHash: bob.userHash, clientHash: 'x' as never, previousIdentity: 'a', identity: 'b' });
    const frame = screen(state).lastFrame()!;
    expect(frame).toContain('safety code 12345 67890 · ⚠ key changed');
    expect(frame).toContain('compare the safety code again');
  });

  it('fits an 80×24 terminal after 40 messages: header, indicator and chat list stay, PageUp scrolls back', () => {
    let state = initialState(me, [loaded('c1')]);
    for (let seq = 1; seq <= 40; seq++) state = reduce(state, message('c1', seq, seq % 2 === 0, `message number ${seq}`));
    const size = { rows: 24, columns: 80 };
    const frame = screen({ ...state, connection: 'connected' }, { size }).lastFrame()!;
    const rows = frame.split('\n');
    expect(rows.length).toBeLessThanOrEqual(23);
    expect(rows[0]).toContain('omechat · sam_42');
    expect(rows[0]).toContain('● connected');
    expect(rows[1]).toContain('▸[1] bob');
    expect(frame).toContain('message number 40');
    expect(frame).toMatch(/↑ \d+ earlier \(PgUp\)/);
    expect(frame).not.toContain('message number 1 ');
    const back = screen({ ...scrolled(state, 39), connection: 'connected' }, { size }).lastFrame()!;
    expect(back).toContain('message number 1 ');
    expect(back).not.toContain('message number 40');
    expect(back).toMatch(/↓ \d+ newer \(PgDn\)/);
    expect(back.split('\n')[0]).toContain('omechat · sam_42');
  });

  it('keeps chat numbers when a chat arrives, marks the open one, and counts unread elsewhere', () => {
    let state = initialState(me, [loaded('c1'), loaded('c2', { ...bob, username: 'bob' }, 'ended')]);
    state = apply(state, [message('c1', 1, false, 'psst'), { type: 'chat.opened', chatId: 'c2' as ChatId }, message('c1', 2, false, 'psst')]);
    state = reduce(state, { type: 'match.found', chatId: 'c3' as ChatId, peer: { ...bob, username: 'eli', userHash: 'eli' as UserHash }, at });
    const frame = screen(state).lastFrame()!;
    expect(frame).toContain('Chats:  [1] bob (1)  [2] bob ✕ ▸[3] eli');
  });

  it('says who ended the chat, and drops the "Say hi!" once it has ended', () => {
    let state = initialState(me);
    state = reduce(state, { type: 'match.found', chatId: 'c1' as ChatId, peer: bob, at });
    expect(screen(state).lastFrame()).toContain('Matched with bob (19). Say hi!');
    const peerLeft = reduce(state, { type: 'chat.ended', chatId: 'c1' as ChatId, reason: 'left', by: 'peer', at });
    expect(screen(peerLeft).lastFrame()).toContain('— bob left the chat. /search to meet someone new.');
    expect(screen(peerLeft).lastFrame()).not.toContain('Say hi!');
    const youLeft = reduce(state, { type: 'chat.ended', chatId: 'c1' as ChatId, reason: 'left', by: 'you', at });
    expect(screen(youLeft).lastFrame()).toContain('— You left the chat.');
    const banned = reduce(state, { type: 'chat.ended', chatId: 'c1' as ChatId, reason: 'banned', by: null, at });
    expect(screen(banned).lastFrame()).toContain('— The chat was ended by a ban.');
  });

  it('hands typed lines to onSubmit (also several in one burst), reports typing for text only, and pages', async () => {
    const view = screen({ ...initialState(me, [loaded('c1')]), connection: 'connected' });
    view.stdin.write('hello');
    await until(() => expect(view.lastFrame()).toContain('> hello'));
    view.stdin.write('\r');
    await until(() => expect(view.onSubmit).toHaveBeenCalledWith('hello'));
    view.stdin.write('/next\rsecond line\r');
    await until(() => expect(view.onSubmit.mock.calls.map((c): unknown => c[0])).toEqual(['hello', '/next', 'second line']));
    expect(view.onTyping).toHaveBeenCalled();
    view.stdin.write('\t');
    await until(() => expect(view.onNextChat).toHaveBeenCalled());
    view.stdin.write('\u001b[5~'); // PageUp
    await until(() => expect(view.onScroll).toHaveBeenCalledWith(expect.any(Number)));
  });
});

describe('the app commands', () => {
  function actions(state = initialState(me, [loaded('c1'), loaded('c2', bob, 'ended')])) {
    let current = state;
    const store = { get: () => current, set: (change: (s: AppState) => AppState) => void (current = change(current)), subscribe: () => () => undefined };
    const client = { chat: {}, match: {}, closedReason: null } as unknown as OmeChatClient;
    const run = vi.fn(async () => undefined);
    const a = new Actions({ client, run } as never, store as never);
    return { a, run, notice: () => current.notice, state: () => current };
  }

  it('refuses bad arguments with the usage line, and calls nothing', () => {
    const { a, run, notice } = actions();
    for (const [input, command] of [['/search abc', '/search'], ['/search 9', '/search'], ['/report', '/report'], ['/report rude', '/report'], ['/chat 7', '/chat'], ['/leave now', '/leave']] as const) {
      a.submit(input);
      expect(notice()).toBe(`Usage: ${USAGE[command]}`);
    }
    expect(run).not.toHaveBeenCalled();
    expect(USAGE['/search']).toContain('default 2');
    expect(USAGE['/report']).toContain('harassment');
    a.submit('/frobnicate');
    expect(notice()).toBe('Unknown command /frobnicate. /help lists the commands.');
  });

  it('keeps dead controls dead on an ended chat', () => {
    const { a, run, notice, state } = actions();
    a.submit('/chat 2');
    expect(state().chat.open).toBe('c2');
    a.submit('hello?');
    expect(notice()).toBe('This chat has ended: /search to meet someone new.');
    a.submit('/leave');
    expect(notice()).toContain('This chat has ended.');
    expect(run).not.toHaveBeenCalled();
  });
});
