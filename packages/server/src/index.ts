/** The server package's public surface: start a server in-process, and the API's type. */
export type { AppRouter } from './trpc/router.js';
export { ConfigError, loadConfig, type Config } from './config.js';
export { startServer, type RunningServer } from './transport/server.js';
export { createCoreFromConfig } from './compose.js';
export { createLogger } from './logger.js';
export { staticPage, type StaticPage } from './transport/static-page.js';
