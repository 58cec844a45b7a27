/**
 * For this repository's tests (@omechat/server/testing): a real server in-process, and real
 * services a test may break. Loads no database driver until a test asks for one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../config.js';
import { createCoreFromConfig } from '../compose.js';
import type { Core } from '../core/app.js';
import { createLogger } from '../logger.js';
import { startServer, type RunningServer } from '../transport/server.js';
import { staticPage } from '../transport/static-page.js';

export { freePort, freshSchema, startNginx, startRedisServer, startTcpProxy, TEST_POSTGRES_URL } from './services.js';
export type { RedisServer, TcpProxy, TestSchema } from './services.js';
// How the server names a client's network, for tests that ban one or read the audit log.
export { networkKeyOf, networkPrefix, networkPrefixes } from '../transport/network.js';
export { altchaProofOfWork } from '../adapters/pow/altcha.js';
export { settingDefaults } from '../config.js';
export { appRouter } from '../trpc/router.js';

/** A real server on a real socket (port 0) over a real SQLite file in a temp dir. */
export interface TestServer {
  server: RunningServer;
  core: Core;
  config: Config;
  dataDir: string;
  /** Every log line the server wrote. */
  logs: string[];
  /** The server's clock: real time plus whatever a test moved it on (expiries without sleeping). */
  clock: TestClock;
  url: string;
  /** Stops this server and starts another on the same data directory (a restart). */
  restart(): Promise<TestServer>;
  close(): Promise<void>;
  /** Closes and deletes the data directory. */
  destroy(): Promise<void>;
}

/**
 * Every test client connects from loopback, one network: limits far above anything a test
 * does, so only tests that set their own limit (rate-limits.e2e.test.ts) meet one.
 */
export const TEST_RATE_LIMITS: Record<string, string> = {
  OMECHAT_RATE_REGISTER_PER_NETWORK: '1000000/3600',
  OMECHAT_RATE_LOGIN_FAILURES_PER_USERNAME: '1000000/900/900',
  OMECHAT_RATE_LOGIN_FAILURES_PER_NETWORK: '1000000/900/900',
  OMECHAT_RATE_MESSAGES_BURST: '1000000/5',
  OMECHAT_RATE_MESSAGES_SUSTAINED: '1000000/300',
  OMECHAT_RATE_MATCH_STARTS: '1000000/60',
  OMECHAT_RATE_CONNECTIONS_PER_NETWORK: '1000000/60',
  OMECHAT_RATE_ADMIN_FAILURES_PER_NETWORK: '1000000/900/900',
  OMECHAT_RATE_POW_CHALLENGES_PER_NETWORK: '1000000/60',
  // The proof-of-work stays on in tests (the SDK solves it), at a trivial difficulty.
  OMECHAT_POW_DIFFICULTY: '4',
  OMECHAT_POW_HOT_PER_NETWORK: '1000000/600',
  OMECHAT_POW_HOT_OVERALL: '1000000/600',
  OMECHAT_RATE_REPORTS_PER_USER: '1000000/3600',
  OMECHAT_RATE_SECRET_CHECKS_PER_NETWORK: '1000000/900',
  OMECHAT_SECRET_CHECKS_IN_FLIGHT_PER_NETWORK: '1000',
  OMECHAT_MAX_SOCKETS_PER_NETWORK: '100000',
  OMECHAT_MAX_SOCKETS: '100000',
  // issue 15: chatter and safety
  OMECHAT_RATE_TYPING: '1000000/60',
  OMECHAT_RATE_READ_RECEIPTS: '1000000/60',
  OMECHAT_RATE_BLOCKS: '1000000/3600',
  OMECHAT_RATE_KEY_BUNDLES: '1000000/3600',
  // A server started as the binary builds the page on first start: only the page's own tests want that.
  OMECHAT_WEB: 'off',
};

/** Real time, moved forward on demand: a test makes a ban expire without waiting for it. */
export class TestClock {
  #offsetMs = 0;
  now(): number {
    return Date.now() + this.#offsetMs;
  }
  advance(ms: number): void {
    this.#offsetMs += ms;
  }
}

export async function startTestServer(
  env: Record<string, string> = {},
  dataDir = mkdtempSync(join(tmpdir(), 'omechat-test-')),
  logs: string[] = [],
  clock = new TestClock(),
): Promise<TestServer> {
  const config = loadConfig({
    OMECHAT_HOST: '127.0.0.1',
    OMECHAT_PORT: '0',
    OMECHAT_DATA_DIR: dataDir,
    OMECHAT_LOG_LEVEL: 'debug',
    OMECHAT_SHUTDOWN_GRACE_MS: '2000',
    ...TEST_RATE_LIMITS,
    ...env,
  });
  const log = createLogger(config.OMECHAT_LOG_LEVEL, { write: (line: string) => void logs.push(line) });
  const core = await createCoreFromConfig(config, log, clock);
  // OMECHAT_WEB=on serves the page already built in OMECHAT_WEB_DIR (the binary would build it).
  const page = config.OMECHAT_WEB === 'on' ? staticPage(config.OMECHAT_WEB_DIR || undefined) : null;
  const server = await startServer({ config, core, log, page });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
  };
  return {
    server,
    core,
    config,
    dataDir,
    logs,
    clock,
    url: server.url,
    close,
    async restart() {
      await close();
      // The same port, so clients reconnect to the URL they know.
      return startTestServer({ ...env, OMECHAT_PORT: String(server.port) }, dataDir, logs, clock);
    },
    async destroy() {
      await close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

