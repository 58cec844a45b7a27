import { settingDefaults, type Config } from './config.js';

/**
 * What each setting means, for `omechat-server --help`. Keyed by the config's own type, so a
 * setting added to config.ts without a line here fails to compile: the help cannot drift.
 */
const MEANINGS: Record<keyof Config, string> = {
  OMECHAT_HOST: 'interface to bind',
  OMECHAT_PORT: 'one port for HTTP, the page and WebSocket (/trpc); 0 picks a free one',
  OMECHAT_STORAGE: 'sqlite (one file in the data dir), postgres or memory',
  OMECHAT_DATABASE_URL: 'PostgreSQL URL, required with OMECHAT_STORAGE=postgres',
  OMECHAT_BUS: 'local, or redis so several server processes share events',
  OMECHAT_DATA_DIR: 'where omechat.sqlite lives',
  OMECHAT_SQLITE_ACK: 'after-fsync, or before-fsync (faster; a power cut can lose acknowledged messages)',
  OMECHAT_LOG_LEVEL: 'pino level: fatal, error, warn, info, debug, trace or silent',
  OMECHAT_MAX_PAYLOAD_BYTES: 'largest WebSocket frame; larger ones close the socket with 1009',
  OMECHAT_MAX_BUFFERED_BYTES: 'unread output a socket may queue before it is closed with 4008',
  OMECHAT_HISTORY_CACHE_BYTES: 'RAM for hot chat history blocks (LRU)',
  OMECHAT_RETENTION_DAYS: 'messages older than this are purged',
  OMECHAT_REPORT_RETENTION_DAYS: 'reports against a deleted account are kept this long after the deletion',
  OMECHAT_MATCH_TICKET_TTL_MS: 'a match ticket is withdrawn after this wait',
  OMECHAT_MATCH_INTEREST_RELAX_MS: 'wait after which shared interests stop being required',
  OMECHAT_KEEPALIVE_MS: 'server ping interval',
  OMECHAT_PONG_WAIT_MS: 'a peer silent this long after a ping is dropped',
  OMECHAT_ARGON2_MEMORY_KIB: 'argon2id memory cost (OWASP floor enforced)',
  OMECHAT_ARGON2_TIME_COST: 'argon2id time cost',
  OMECHAT_SHUTDOWN_GRACE_MS: 'how long shutdown waits for in-flight calls',
  OMECHAT_ADMIN_TOKEN: 'authorises admin.* calls (at least 32 characters); unset: admin API off',
  OMECHAT_NETWORK_KEY: 'HMAC key of network keys (at least 32 characters); unset: random per process',
  OMECHAT_TRUSTED_PROXIES: 'comma-separated proxy IPs whose X-Forwarded-For is believed',
  OMECHAT_REPORTS_TO_SUSPEND: 'distinct reporters within the window that suspend an account',
  OMECHAT_REPORT_WINDOW_MS: 'window in which those reports count',
  OMECHAT_SUSPENSION_MS: 'the first suspension',
  OMECHAT_SUSPENSION_FACTOR: 'each later suspension is this many times longer',
  OMECHAT_SUSPENSIONS_BEFORE_PERMANENT: 'after this many suspensions the next is permanent',
  OMECHAT_RATE_LIMIT_STORE: 'where rate limits count: memory, redis or off (benchmarks only)',
  OMECHAT_REDIS_URL: 'Redis for the bus, the matcher and the rate limits',
  OMECHAT_REDIS_PREFIX: 'namespaces every Redis key and channel',
  OMECHAT_RATE_LIMIT_REDIS_DOWN: 'while Redis is down, rate limits count per process (local) or refuse (closed)',
  OMECHAT_MATCHER: 'memory (this process), or redis so users on different processes are paired',
  OMECHAT_RATE_REGISTER_PER_NETWORK: 'registrations per network, points/windowSeconds',
  OMECHAT_RATE_LOGIN_FAILURES_PER_USERNAME: 'failed logins per username, points/windowSeconds/lockoutSeconds',
  OMECHAT_RATE_LOGIN_FAILURES_PER_NETWORK: 'failed logins per network, points/windowSeconds/lockoutSeconds',
  OMECHAT_RATE_MESSAGES_BURST: 'messages per device, burst',
  OMECHAT_RATE_MESSAGES_SUSTAINED: 'messages per device, sustained',
  OMECHAT_RATE_MATCH_STARTS: 'match starts per device',
  OMECHAT_RATE_CONNECTIONS_PER_NETWORK: 'new connections per network',
  OMECHAT_RATE_ADMIN_FAILURES_PER_NETWORK: 'wrong admin tokens per network, with lockout',
  OMECHAT_RATE_POW_CHALLENGES_PER_NETWORK: 'proof-of-work challenges per network',
  OMECHAT_POW_DIFFICULTY: 'most attempts a registration proof-of-work takes while quiet; 0: off',
  OMECHAT_POW_TTL_SECONDS: 'how long a challenge may be solved for',
  OMECHAT_POW_KEY: 'HMAC key of challenges (at least 32 characters); unset: random per process',
  OMECHAT_POW_HOT_PER_NETWORK: 'registrations per network beyond which the difficulty rises',
  OMECHAT_POW_HOT_OVERALL: 'registrations overall beyond which the difficulty rises',
  OMECHAT_POW_HOT_FACTOR: 'by how much the difficulty rises, per hot condition',
  OMECHAT_RATE_REPORTS_PER_USER: 'reports per user',
  OMECHAT_WEB: 'on: serve the chat page at / (built on first start if missing); off: API only',
  OMECHAT_MATCH_REMATCH_AFTER_MS: 'after one of two users left their chat, they are not paired again for this long; 0: at once',
  OMECHAT_DEV: '1: development mode, relaxing registration limits and the proof-of-work (never in production)',
  OMECHAT_WEB_DIR: "the built page's folder (built there on first start if missing); empty: apps/web/dist",
};

/** The settings as an aligned text table: name, default, meaning. */
export function settingsTable(): string {
  const rows = settingDefaults().map(({ name, fallback }) => [name, fallback === undefined ? '-' : fallback === '' ? '(empty)' : fallback, MEANINGS[name]]);
  const header = ['setting', 'default', 'meaning'];
  const widths = [0, 1].map((i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`.trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
