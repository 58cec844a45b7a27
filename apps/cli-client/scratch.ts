import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { loadConfig, createCoreFromConfig, createLogger, startServer } from '@omechat/server';
import { createOmeChatClient } from '@omechat/sdk';
const config = loadConfig({ OMECHAT_HOST: '127.0.0.1', OMECHAT_PORT: '0', OMECHAT_DATA_DIR: mkdtempSync(join(tmpdir(), 'x-')), OMECHAT_LOG_LEVEL: 'silent' });
const log = createLogger(config.OMECHAT_LOG_LEVEL);
const core = createCoreFromConfig(config, log);
const server = await startServer({ config, core, log });
console.log(server.url);
const mk = (credentials?: any) => createOmeChatClient({ url: server.url, WebSocket: WebSocket as never, credentials });
const a = mk();
a.onStateChange((s, r) => console.log('a state', s, r));
const { secret } = await a.account.register({ username: 'alice1', age: 20 });
const t0 = Date.now();
const l = await a.account.login({ username: 'alice1', secret });
console.log('login ms', Date.now() - t0);
await a.encryptionReady();
// bogus creds
const b = mk({ clientHash: l.clientHash, accessToken: 'x'.repeat(43) });
b.onStateChange((s, r) => console.log('b state', s, r));
try { console.log(await b.account.me()); } catch (e: any) { console.log('b me err', e.code, e.message); }
// revoke self then call
await a.clients.revoke({ clientHash: l.clientHash }).catch((e) => console.log('revoke err', e.code));
try { console.log(await a.account.me()); } catch (e: any) { console.log('a me after revoke', e.code, e.message); }
// server down
const c = createOmeChatClient({ url: 'ws://127.0.0.1:1/trpc', WebSocket: WebSocket as never });
c.onStateChange((s, r) => console.log('c state', s, r));
const r = await Promise.race([c.account.register({ username: 'zzz', age: 20 }).then(() => 'ok', (e) => 'err ' + e.code), new Promise((r) => setTimeout(() => r('hang'), 3000))]);
console.log('c', r);
await Promise.all([a.close(), b.close(), c.close()]);
await server.close();
console.log('done');
