import {
  createOmeChatClient,
  IndexedDbKeyStore,
  IndexedDbMessageStore,
  OmeChatError,
  type ChatId,
  type ClientEvent,
  type Credentials,
  type OmeChatClient,
  type UserHash,
} from '@omechat/sdk';
import { describeEnd, initialChatState, openChat, reduceChats, statusOf, type ChatAction, type ChatEntry, type ChatState } from '@omechat/sdk/chat-state';
import { REPORT_REASONS, type ReportReason } from '@omechat/protocol';

/** What this browser remembers between visits, in IndexedDB (never the secret). */
interface Session {
  credentials: Credentials;
  username: string;
  userHash: UserHash;
  lastEventId: string | null;
}

/** A text field of a form (FormData gives strings for text inputs). */
const field = (form: FormData, name: string) => String(form.get(name) as string | null ?? '');
const $ = <T extends HTMLElement = HTMLElement>(selector: string) => document.querySelector<T>(selector)!;
// The server that serves the page is the one to talk to (vite dev and preview proxy /trpc to it).
const serverUrl = new URLSearchParams(location.search).get('server') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/trpc`;
// One small record holds the session: the key store's IndexedDB record type fits it exactly.
const sessionStore = new IndexedDbKeyStore('session', 'omechat-web');
// One device per browser profile; sign-out erases both stores.
const messageStore = new IndexedDbMessageStore('device');

let client: OmeChatClient;
let session: Session | null = null;
/** The chats, as every OmeChat client holds them (`@omechat/sdk/chat-state`); the page renders from this. */
let state: ChatState | null = null;
/** The page's own view state: the safety code asked for, the search, typing marks. */
let safetyCode: { chatId: ChatId; text: string } | null = null;
let searchTimer: ReturnType<typeof setInterval> | undefined;
let typingSentAt = 0;
const typingFades = new Map<ChatId, ReturnType<typeof setTimeout>>();

/** The chat a notice is about: it goes when that chat ends ("Say hi!" must not outlive it). */
let noticeChat: ChatId | null = null;
/** A line above every screen (signed in or not), so no error goes unseen. */
function notice(text: string, kind: 'info' | 'error' = 'info', chatId: ChatId | null = null) {
  noticeChat = chatId;
  $('#notice').textContent = text;
  $('#notice').dataset.kind = kind;
  $('#notice').hidden = text === '';
}
/** Signed out and the server cannot be reached: that notice stays until it can. */
let unreachable = false;
/** Clears the notice before a new attempt, unless it says the server cannot be reached. */
const clearNotice = () => unreachable || notice('');
const failed = (error: unknown) => notice(error instanceof OmeChatError ? `${error.message} (${error.code})` : String(error), 'error');
/** Runs a user action; a failure shows as a notice and the page goes on. */
const act = (work: () => Promise<unknown>) => () => void work().catch(failed);

/** One client for the page's life: it signs in in place, so its keys are made once. */
function connect(saved: Session | null) {
  session = saved;
  client = createOmeChatClient({
    url: serverUrl,
    credentials: saved?.credentials ?? null,
    lastEventId: saved?.lastEventId ?? null,
    onLastEventId: (lastEventId) => session && void saveSession({ ...session, lastEventId }),
    keyStore: new IndexedDbKeyStore('device'),
    messageStore,
  });
  client.onStateChange((connection) => {
    // Signed out there is no connection indicator: a server that cannot be reached must still show.
    const wasUnreachable = unreachable;
    unreachable = connection === 'reconnecting' && !session;
    if (unreachable) notice(`Cannot reach the server at ${serverUrl}: is it running? Retrying…`, 'error');
    else if (wasUnreachable) notice('');
    $('#connection').dataset.state = connection;
    $('#connection').textContent = { connecting: 'connecting…', connected: '● connected', reconnecting: 'reconnecting…', closed: 'offline' }[connection];
  });
}

async function saveSession(next: Session | null) {
  session = next;
  await (next ? sessionStore.save(JSON.stringify(next)) : sessionStore.clear());
}

function show(signedIn: boolean) {
  if (signedIn && $('#notice').dataset.kind === 'error') notice('');
  $('#signed-out').hidden = signedIn;
  $('#signed-in').hidden = !signedIn;
  if (session) $('#me').textContent = session.username;
}

async function signIn(username: string, secret: string) {
  const result = await client.account.login({ username, secret, deviceName: 'OmeChat web' });
  const next: Session = { credentials: { clientHash: result.clientHash, accessToken: result.accessToken }, username, userHash: result.userHash, lastEventId: null };
  await saveSession(next);
  await enter(next);
}

/** Opens the signed-in page: this device's chats (with the receipts it stored), then live events. */
async function enter(saved: Session) {
  session = saved;
  state = initialChatState(saved.userHash);
  show(true);
  client.on(onEvent);
  await client.eventsLive();
  const summaries = (await client.chat.list()).sort((a, b) => a.createdAt - b.createdAt);
  dispatch({ type: 'chats.loaded', chats: await Promise.all(summaries.map(async (summary) => ({ summary, marks: await messageStore.marks(summary.chatId) }))) });
  const open = openChat(state) ?? state.chats.findLast((c) => !c.end) ?? state.chats.at(-1);
  if (open) await showChat(open);
}

function dispatch(action: ChatAction) {
  if (!state) return;
  state = reduceChats(state, action);
  renderChats();
  renderChat();
}

/** Puts a chat on screen with its latest messages (texts as this device decrypted them). */
async function showChat(chat: ChatEntry) {
  const { chatId } = chat;
  dispatch({ type: 'chat.opened', chatId });
  const page = await client.chat.history({ chatId, limit: 50 });
  const summary = { chatId, peer: chat.peer, state: chat.end ? 'ended' : 'active', endReason: chat.end?.reason ?? null, unread: 0 } as const;
  dispatch({ type: 'chats.loaded', chats: [{ summary, lines: page.messages.map(({ seq, own, text, sentAt }) => ({ seq, own, text, sentAt })) }] });
  markRead(chatId);
}

/** Tells the peer what this page has shown (best effort: receipts are a courtesy). */
function markRead(chatId: ChatId) {
  const last = state && openChat(state)?.lines.findLast((l) => !l.own);
  if (last && state?.open === chatId) void client.message.markRead(chatId, last.seq).catch(() => undefined);
}

function onEvent(event: ClientEvent) {
  dispatch(event);
  switch (event.type) {
    case 'match.found':
      stopSearching();
      return notice(`You are talking to ${event.peer.username} (${event.peer.age}). Say hi!`, 'info', event.chatId);
    case 'message':
      if (!event.own) markRead(event.chatId);
      return;
    case 'chat.typing': {
      // Typing is never stored and a "stopped" may never come: the mark fades by itself.
      clearTimeout(typingFades.get(event.chatId));
      if (event.typing) typingFades.set(event.chatId, setTimeout(() => dispatch({ ...event, typing: false }), 6_000));
      return;
    }
    case 'chat.ended':
      if (noticeChat === event.chatId) notice('');
      return;
    case 'message.undecryptable':
      return notice(`A message could not be decrypted (${event.code}).`);
    case 'peer.identityChanged':
      return notice('A key of your peer changed: compare the safety code again.');
    default:
      return;
  }
}

function renderChats() {
  $('#chats').replaceChildren(
    ...state!.chats.map((chat) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = chat.peer.username;
      button.className = chat.end ? 'ended' : '';
      button.title = describeEnd(chat) ?? '';
      button.setAttribute('aria-current', String(chat.chatId === state!.open));
      if (chat.unread > 0) {
        const badge = document.createElement('span');
        badge.className = 'unread';
        badge.textContent = String(chat.unread);
        button.append(badge);
      }
      button.addEventListener('click', act(() => showChat(chat)));
      return button;
    }),
  );
}

const MARKS = { sent: '✓', delivered: '✓✓', read: '✓✓ read' };

function renderChat() {
  const chat = openChat(state!);
  $('#chat').hidden = !chat;
  if (!chat) return;
  $('#peer').textContent = `${chat.peer.username}, ${chat.peer.age}`;
  const ended = describeEnd(chat);
  $('#ended').hidden = !ended;
  $('#ended').textContent = ended ?? '';
  $('#key-warning').hidden = !chat.keyWarning;
  $('#key-warning').textContent = `⚠ ${chat.keyWarning}`;
  $('#typing').hidden = !chat.peerTyping;
  $('#typing').textContent = `${chat.peer.username} is typing…`;
  // An ended chat can still be read and reported, nothing else.
  for (const control of ['#compose input', '#compose button', '#next', '#leave', '#block', '#safety']) {
    $<HTMLInputElement | HTMLButtonElement>(control).disabled = Boolean(chat.end);
  }
  const code = safetyCode?.chatId === chat.chatId && !chat.end ? safetyCode.text : null;
  $('#safety-code').hidden = !code;
  $('#safety-code').textContent = `Safety code: ${code} (compare it with your peer)`;
  $('#messages').replaceChildren(
    ...chat.lines.map((line) => {
      const li = document.createElement('li');
      li.className = line.own ? 'own' : 'theirs';
      li.textContent = line.text ?? '(a message this device could not read)';
      const time = document.createElement('time');
      time.textContent = line.sentAt ? new Date(line.sentAt).toTimeString().slice(0, 5) : '';
      li.append(time);
      const status = statusOf(chat, line);
      if (status) {
        const mark = document.createElement('span');
        mark.className = 'mark';
        mark.textContent = MARKS[status];
        li.append(mark);
      }
      return li;
    }),
  );
  $('#messages').scrollTop = $('#messages').scrollHeight;
}

function stopSearching() {
  clearInterval(searchTimer);
  $('#searching').hidden = true;
  $('#search-start').hidden = false;
}

async function search() {
  const form = new FormData($<HTMLFormElement>('#search'));
  const interests = field(form, 'interests').split(',').map((s) => s.trim()).filter(Boolean);
  const since = Date.now();
  $('#searching').hidden = false;
  $('#search-start').hidden = true;
  searchTimer = setInterval(() => ($('#waited').textContent = String(Math.floor((Date.now() - since) / 1000))), 500);
  await client.match.start({ tolerance: Number(field(form, 'tolerance')), interests }).catch((error: unknown) => {
    stopSearching();
    throw error;
  });
}

function wire() {
  const select = $<HTMLSelectElement>('#report-reason');
  for (const reason of REPORT_REASONS) select.append(new Option(reason, reason));

  $('#register').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = new FormData(e.target as HTMLFormElement);
    const username = field(form, 'username');
    act(async () => {
      // The proof-of-work takes seconds: show it moving, and take no second click meanwhile.
      const status = $('#register-status');
      const button = $<HTMLButtonElement>('#register button');
      const showProgress = (fraction: number) => {
        status.querySelector('progress')!.value = fraction;
        status.querySelector('span')!.textContent = `Creating your account… ${Math.round(fraction * 100)}%`;
      };
      button.disabled = true;
      status.hidden = false;
      showProgress(0);
      clearNotice();
      const { secret } = await client.account
        .register({ username, age: Number(field(form, 'age')) }, { onProgress: ({ fraction }) => showProgress(fraction) })
        .finally(() => {
          button.disabled = false;
          status.hidden = true;
        });
      $('#secret-value').textContent = secret;
      $('#signed-out').hidden = true;
      $('#secret').hidden = false;
      $('#secret-done').onclick = act(async () => {
        $('#secret').hidden = true;
        $('#secret-value').textContent = '';
        await signIn(username, secret);
      });
    })();
  });
  $('#login').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = new FormData(e.target as HTMLFormElement);
    const button = $<HTMLButtonElement>('#login button');
    button.disabled = true;
    clearNotice();
    act(() => signIn(field(form, 'username'), field(form, 'secret')).finally(() => (button.disabled = false)))();
  });
  $('#search').addEventListener('submit', (e) => {
    e.preventDefault();
    act(search)();
  });
  $('#search-cancel').addEventListener('click', act(async () => {
    await client.match.cancel();
    stopSearching();
  }));
  $('#compose').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $<HTMLInputElement>('#compose input');
    const text = input.value.trim();
    const chatId = state?.open;
    if (!text || !chatId) return;
    input.value = '';
    typingSentAt = 0;
    act(() => client.chat.send(chatId, text))();
  });
  $('#compose input').addEventListener('input', () => {
    const chatId = state?.open;
    if (!chatId || Date.now() - typingSentAt < 3_000) return;
    typingSentAt = Date.now();
    void client.chat.typing(chatId, true).catch(() => undefined);
  });
  const withChat = (work: (chat: ChatEntry) => Promise<unknown>) => act(async () => {
    const chat = state && openChat(state);
    if (chat) await work(chat);
  });
  $('#leave').addEventListener('click', withChat((chat) => client.chat.leave(chat.chatId)));
  $('#next').addEventListener('click', withChat(async (chat) => {
    if (!chat.end) await client.chat.leave(chat.chatId);
    await search();
  }));
  $('#block').addEventListener('click', withChat(async (chat) => {
    await client.safety.block(chat.peer.userHash);
    notice(`${chat.peer.username} is blocked: you will never be matched again.`);
  }));
  select.addEventListener('change', withChat(async (chat) => {
    const reason = select.value as ReportReason;
    select.value = '';
    if (!reason) return;
    await client.safety.report({ chatId: chat.chatId, reason });
    notice(`Reported ${chat.peer.username} (${reason}). Thank you.`);
  }));
  $('#safety').addEventListener('click', withChat(async (chat) => {
    safetyCode = { chatId: chat.chatId, text: await client.chat.safetyCode(chat.chatId) };
    renderChat();
  }));
  $('#sign-out').addEventListener('click', act(async () => {
    await client.account.signOut({ erase: true });
    await saveSession(null);
    location.reload();
  }));
}

wire();
const saved = await sessionStore.load().then((text) => (text ? (JSON.parse(text) as Session) : null));
connect(saved);
if (saved) await enter(saved).catch(failed);
else show(false);
