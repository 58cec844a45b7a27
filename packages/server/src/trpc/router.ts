import { router } from './init.js';
import { accountRouter } from './routers/account.js';
import { clientsRouter } from './routers/clients.js';
import { chatRouter, matchRouter, messageRouter } from './routers/chat.js';
import { eventsRouter } from './routers/events.js';
import { keysRouter } from './routers/keys.js';
import { adminRouter } from './routers/admin.js';
import { safetyRouter } from './routers/safety.js';
import { metaRouter } from './routers/meta.js';

export const appRouter = router({
  account: accountRouter,
  clients: clientsRouter,
  match: matchRouter,
  chat: chatRouter,
  message: messageRouter,
  events: eventsRouter,
  keys: keysRouter,
  safety: safetyRouter,
  admin: adminRouter,
  meta: metaRouter,
});

/** The whole API's type: the SDK and CLI import this, and nothing else, from the server. */
export type AppRouter = typeof appRouter;
