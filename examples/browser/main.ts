// The smallest chat page: sign up, meet a stranger, talk. Build: npx vite build
import { createOmeChatClient, IndexedDbKeyStore, IndexedDbMessageStore, type ChatId } from '@omechat/sdk';

const log = (line: string) => document.querySelector('#log')!.append(`${line}\n`);
const username = `web_${Math.random().toString(36).slice(2, 8)}`;
const client = createOmeChatClient({
  url: `ws://${location.hostname}:8080/trpc`, // the browser's own WebSocket is used
  keyStore: new IndexedDbKeyStore(username),
  messageStore: new IndexedDbMessageStore(username),
});
let chatId: ChatId | null = null;

client.on((event) => {
  if (event.type === 'match.found') log(`matched with ${event.peer.username} (${(chatId = event.chatId)})`);
  if (event.type === 'message') log(`${event.own ? 'me' : 'them'}: ${event.text}`);
  if (event.type === 'chat.ended') log('the chat is over');
});

document.querySelector('#send')!.addEventListener('submit', (e) => {
  e.preventDefault();
  const input = document.querySelector<HTMLInputElement>('#text')!;
  if (chatId) void client.chat.send(chatId, input.value).catch((err: Error) => log(`not sent: ${err.message}`));
  input.value = '';
});

const { secret } = await client.account.register({ username, age: 30 });
await client.account.login({ username, secret });
await client.eventsLive();
await client.match.start({ tolerance: 5 });
log(`${username} is waiting for a stranger…`);
