// An echo bot on @omechat/sdk: signs up, waits for a stranger, answers every message.
// Run: npm install @omechat/sdk ws && npx tsc && OMECHAT_URL=ws://localhost:8080/trpc node dist/bot.js
import { createOmeChatClient, OmeChatError } from '@omechat/sdk';
import { FileKeyStore, FileMessageStore } from '@omechat/sdk/file-store';
import { WebSocket } from 'ws';

const url = process.env.OMECHAT_URL ?? 'ws://localhost:8080/trpc';
const username = process.env.BOT_NAME ?? `echo_bot_${process.pid}`;
const dir = process.env.BOT_DIR ?? '.omechat';

const client = createOmeChatClient({
  url,
  WebSocket, // Node 20 has no global WebSocket; browsers and Node 22+ need nothing here
  keyStore: new FileKeyStore(`${dir}/${username}.keys.json`), // private keys, mode 0600
  messageStore: new FileMessageStore(`${dir}/${username}.messages.jsonl`), // history text
});

// A new account each run. Keep `secret` to sign in again later: it is shown only once.
const { secret } = await client.account.register({ username, age: 30 });
await client.account.login({ username, secret });
const next = () => client.match.start({ tolerance: 5, interests: ['bots'] });

client.on((event) => {
  switch (event.type) {
    case 'match.found':
      console.log(`matched with ${event.peer.username} (${event.peer.age})`);
      break;
    case 'message':
      if (event.own) break;
      console.log(`< ${event.text}`);
      client.chat.send(event.chatId, `echo: ${event.text}`).catch((error: unknown) => {
        console.error('not sent:', error instanceof OmeChatError ? error.code : error);
      });
      break;
    case 'chat.ended':
      void next().catch(() => undefined); // on to the next stranger
      break;
  }
});
await client.eventsLive(); // so the match.found for our own ticket cannot be missed
await next();
console.log(`${username} is waiting for a stranger`);
