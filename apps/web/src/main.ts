import {
  createOmeChatClient,
  IndexedDbKeyStore,
  IndexedDbMessageStore,
  OmeChatError,
  type ChatId,
  type ChatSummary,
  type ClientEvent,
  type Credentials,
  type OmeChatClient,
  type UserHash,
} from '@omechat/sdk';
import { REPORT_REASONS, type ReportReason } from '@omechat/protocol';

/** What this browser remembers between visits, in IndexedDB (never the secret). */
interface Session {
  credentials: Credentials;
  username: string;
  userHash: UserHash;
  lastEventId: string | null;
}

interface Message {
  seq: number;
  own: boolean;
  text: string | null;
  sentAt: number;
  mark?: 'sent' | 'delivered' | 'read';
}

interface Chat {
  chatId: ChatId;
  peer: ChatSummary['peer'];
  ended: string | null;
  unread: number;
  messages: Message[];
}

/** A text field of a form (FormData gives strings for text inputs). */
const field = (form: FormData, name: string) => String(form.get(name) as string | null ?? '');
const $ = <T extends HTMLElement = HTMLElement>(selector: string) => document.querySelector<T>(selector)!;
// The server that serves the page is the one to talk to (vite dev and preview proxy /trpc to it).
const serverUrl = new URLSearchParams(location.search).get('server') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/trpc`;
// One small record holds the session: the key store's IndexedDB record type fits it exactly.
const sessionStore = new IndexedDbKeyStore('session', 'omechat-web');

let client: OmeChatClient;
let session: Session | null = null;
const chats = new Map<ChatId, Chat>();
let current: ChatId | null = null;
let searchTimer: ReturnType<typeof setInterval> | undefined;
let typingSentAt = 0;
let typingFade: ReturnType<typeof setTimeout> | undefined;

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
    // One device per browser profile; sign-out erases both.
    keyStore: new IndexedDbKeyStore('device'),
    messageStore: new IndexedDbMessageStore('device'),
  });
  client.onStateChange((state) => {
    // Signed out there is no connection indicator: a server that cannot be reached must still show.
    const wasUnreachable = unreachable;
    unreachable = state === 'reconnecting' && !session;
    if (unreachable) notice(`Cannot reach the server at ${serverUrl}: is it running? Retrying…`, 'error');
    else if (wasUnreachable) notice('');
    $('#connection').dataset.state = state;
    $('#connection').textContent = { connecting: 'connecting…', connected: '● connected', reconnecting: 'reconnecting…', closed: 'offline' }[state];
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

/** Opens the signed-in page: this device's chats, then live events. */
async function enter(saved: Session) {
  session = saved;
  show(true);
  client.on(onEvent);
  await client.eventsLive();
  for (const summary of (await client.chat.list()).sort((a, b) => b.lastActivityAt - a.lastActivityAt)) {
    chats.set(summary.chatId, { chatId: summary.chatId, peer: summary.peer, ended: summary.state === 'ended' ? 'This chat has ended.' : null, unread: summary.unread, messages: [] });
  }
  const open = [...chats.values()].find((c) => !c.ended) ?? chats.values().next().value;
  if (open) await openChat(open.chatId);
  renderChats();
}

async function openChat(chatId: ChatId) {
  current = chatId;
  const chat = chats.get(chatId)!;
  const page = await client.chat.history({ chatId, limit: 50 });
  const known = new Map(chat.messages.map((m) => [m.seq, m]));
  for (const m of page.messages) {
    const own = m.senderUserHash === session?.userHash;
    known.set(m.seq, { seq: m.seq, own, text: m.text, sentAt: m.sentAt, mark: known.get(m.seq)?.mark ?? (own ? 'sent' : undefined) });
  }
  chat.messages = [...known.values()].sort((a, b) => a.seq - b.seq);
  chat.unread = 0;
  markRead(chat);
  $('#safety-code').hidden = true;
  renderChats();
  renderChat();
}

function markRead(chat: Chat) {
  const last = chat.messages.findLast((m) => !m.own);
  if (last && current === chat.chatId) void client.message.markRead(chat.chatId, last.seq).catch(() => undefined);
}

function onEvent(event: ClientEvent) {
  switch (event.type) {
    case 'match.found':
      stopSearching();
      if (!chats.has(event.chatId)) chats.set(event.chatId, { chatId: event.chatId, peer: event.peer, ended: null, unread: 0, messages: [] });
      notice(`You are talking to ${event.peer.username} (${event.peer.age}). Say hi!`, 'info', event.chatId);
      return void openChat(event.chatId).catch(failed);
    case 'message': {
      const chat = chats.get(event.chatId);
      if (!chat) return;
      if (!chat.messages.some((m) => m.seq === event.seq)) {
        chat.messages.push({ seq: event.seq, own: event.own, text: event.text, sentAt: event.sentAt, mark: event.own ? 'sent' : undefined });
        chat.messages.sort((a, b) => a.seq - b.seq);
      }
      if (!event.own) {
        if (current === chat.chatId) markRead(chat);
        else chat.unread++;
        $('#typing').hidden = true;
      }
      break;
    }
    case 'message.delivered':
    case 'message.read': {
      if (event.by === session?.userHash) return;
      for (const m of chats.get(event.chatId)?.messages ?? []) {
        if (m.own && m.seq <= event.seq && m.mark !== 'read') m.mark = event.type === 'message.read' ? 'read' : 'delivered';
      }
      break;
    }
    case 'chat.typing':
      if (event.chatId !== current || event.userHash === session?.userHash) return;
      $('#typing').hidden = !event.typing;
      $('#typing').textContent = `${chats.get(event.chatId)?.peer.username ?? 'They'} is typing…`;
      clearTimeout(typingFade);
      typingFade = setTimeout(() => ($('#typing').hidden = true), 6_000);
      return;
    case 'chat.ended': {
      const chat = chats.get(event.chatId);
      if (chat) chat.ended = { left: 'The chat has ended.', blocked: 'The chat was ended by a block.', banned: 'The chat was ended by a ban.', deleted: 'The account was deleted.' }[event.reason];
      if (noticeChat === event.chatId) notice('');
      break;
    }
    case 'message.undecryptable':
      return notice(`A message could not be decrypted (${event.code}).`);
    case 'peer.identityChanged':
      return notice("A key of your peer changed: compare the safety code again.");
    default:
      return;
  }
  renderChats();
  renderChat();
}

function renderChats() {
  $('#chats').replaceChildren(
    ...[...chats.values()].map((chat) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = chat.peer.username;
      button.className = chat.ended ? 'ended' : '';
      button.setAttribute('aria-current', String(chat.chatId === current));
      if (chat.unread > 0) {
        const badge = document.createElement('span');
        badge.className = 'unread';
        badge.textContent = String(chat.unread);
        button.append(badge);
      }
      button.addEventListener('click', act(() => openChat(chat.chatId)));
      return button;
    }),
  );
}

function renderChat() {
  const chat = current ? chats.get(current) : undefined;
  $('#chat').hidden = !chat;
  if (!chat) return;
  $('#peer').textContent = `${chat.peer.username}, ${chat.peer.age}`;
  $('#ended').hidden = !chat.ended;
  $('#ended').textContent = chat.ended ?? '';
  // An ended chat can still be read and reported, nothing else.
  for (const control of ['#compose input', '#compose button', '#next', '#leave', '#block', '#safety']) {
    $<HTMLInputElement | HTMLButtonElement>(control).disabled = Boolean(chat.ended);
  }
  if (chat.ended) $('#safety-code').hidden = true;
  $('#messages').replaceChildren(
    ...chat.messages.map((m) => {
      const li = document.createElement('li');
      li.className = m.own ? 'own' : 'theirs';
      li.textContent = m.text ?? '(sent before this device could read it)';
      const time = document.createElement('time');
      time.textContent = new Date(m.sentAt).toTimeString().slice(0, 5);
      li.append(time);
      if (m.own && m.mark) {
        const mark = document.createElement('span');
        mark.className = 'mark';
        mark.textContent = { sent: '✓', delivered: '✓✓', read: '✓✓ read' }[m.mark];
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
    if (!text || !current) return;
    input.value = '';
    typingSentAt = 0;
    const chatId = current;
    act(() => client.chat.send(chatId, text))();
  });
  $('#compose input').addEventListener('input', () => {
    if (!current || Date.now() - typingSentAt < 3_000) return;
    typingSentAt = Date.now();
    void client.chat.typing(current, true).catch(() => undefined);
  });
  const withChat = (work: (chat: Chat) => Promise<unknown>) => act(async () => current && work(chats.get(current)!));
  $('#leave').addEventListener('click', withChat((chat) => client.chat.leave(chat.chatId)));
  $('#next').addEventListener('click', withChat(async (chat) => {
    if (!chat.ended) await client.chat.leave(chat.chatId);
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
    $('#safety-code').textContent = `Safety code: ${await client.chat.safetyCode(chat.chatId)} (compare it with your peer)`;
    $('#safety-code').hidden = false;
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
