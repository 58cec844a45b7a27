import { ConfigError, loadConfig } from './config.js';
import { createCoreFromConfig } from './compose.js';
import { createLogger } from './logger.js';
import { startServer } from './transport/server.js';
import { resolve } from 'node:path';
import { buildPageIfMissing, DEFAULT_PAGE_DIR, staticPage } from './transport/static-page.js';

/** Composition root: config -> adapters -> core -> listen; SIGTERM/SIGINT shut down cleanly. */
export async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`omechat-server: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const log = createLogger(config.OMECHAT_LOG_LEVEL);
  const core = await createCoreFromConfig(config, log);
  const pageDir = config.OMECHAT_WEB_DIR ? resolve(config.OMECHAT_WEB_DIR) : DEFAULT_PAGE_DIR;
  const page = config.OMECHAT_WEB === 'on' ? staticPage(pageDir) : null;
  const server = await startServer({ config, core, log, page }).catch(async (err: unknown) => {
    // A port that is taken (or not ours to bind) is the operator's to fix: one line, and exit
    // at once, rather than a stack trace and a process kept alive by storage and timers.
    const code = (err as { code?: unknown }).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES') throw err;
    const why = code === 'EADDRINUSE' ? 'is already in use' : 'may not be bound by this user';
    // The metrics listener (OMECHAT_METRICS_PORT) binds after the main one, and may be the one refused.
    const metrics = config.OMECHAT_METRICS_PORT !== undefined && (err as { port?: unknown }).port === config.OMECHAT_METRICS_PORT && config.OMECHAT_METRICS_PORT !== config.OMECHAT_PORT;
    const [name, port, host] = metrics ? ['OMECHAT_METRICS_PORT', config.OMECHAT_METRICS_PORT, config.OMECHAT_METRICS_HOST] : ['OMECHAT_PORT', config.OMECHAT_PORT, config.OMECHAT_HOST];
    process.stderr.write(`omechat-server: port ${port} on ${host} ${why}: stop what uses it, or set ${name} to another port (${name}=0 picks a free one)\n`);
    await core.close().catch(() => undefined);
    process.exit(1);
  });
  if (page) buildPageIfMissing(log, pageDir);

  const stop = (signal: string) => {
    log.info({ signal }, 'signal received');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Printed once a signal is handled, so whoever waits for this line may stop the server at once.
  const dev = config.OMECHAT_DEV === '1' ? '; DEVELOPMENT MODE (OMECHAT_DEV=1): registration limits and proof-of-work relaxed, never use in production' : '';
  const pageLine = page ? `The chat page: ${server.url.replace(/^ws/, 'http').replace(/\/trpc$/, '/')}\n` : '';
  // One write: whoever reads the first line may close the pipe at once (a second write would then fail).
  process.stdout.write(`OmeChat listening on ${server.url} (bound to ${server.bound}; storage: ${config.OMECHAT_STORAGE}${dev})\n${pageLine}`);
}
