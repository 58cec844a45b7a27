import { ConfigError, loadConfig } from './config.js';
import { createCoreFromConfig } from './compose.js';
import { createLogger } from './logger.js';
import { startServer } from './transport/server.js';

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
  const server = await startServer({ config, core, log });

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
  process.stdout.write(`OmeChat listening on ${server.url} (bound to ${server.bound}; storage: ${config.OMECHAT_STORAGE})\n`);
}
