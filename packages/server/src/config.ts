import { z } from 'zod';

/**
 * The only place that reads process.env. Every setting is validated at start; a bad value
 * stops the server with a message naming the variable.
 */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/**
 * A rate limit as `points/windowSeconds`, or `points/windowSeconds/lockoutSeconds` for a limit
 * that locks the key out once it goes over (failed logins). See docs/safety.md.
 */
const rateRule = (fallback: string) =>
  z
    .string()
    .regex(/^\d{1,9}\/\d{1,9}(\/\d{1,9})?$/, 'must be points/windowSeconds[/lockoutSeconds]')
    .default(fallback)
    .transform((value, ctx) => {
      const [points = 0, window = 0, lockout = 0] = value.split('/').map(Number);
      if (points < 1 || window < 1) ctx.addIssue({ code: 'custom', message: 'points and window must be at least 1' });
      return { points, windowMs: window * 1000, blockMs: lockout * 1000 };
    });
const secretSetting = z.string().min(32, 'must be at least 32 characters').optional();

const schema = z.object({
  OMECHAT_HOST: z.string().min(1).default('0.0.0.0'),
  OMECHAT_PORT: int(0, 65535).default(8080),
  OMECHAT_STORAGE: z.enum(['sqlite', 'memory', 'postgres']).default('sqlite'),
  /** PostgreSQL to use when OMECHAT_STORAGE=postgres (required then), e.g. postgres://user:pass@host/db. */
  OMECHAT_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  /** How live events reach connections: in this process only, or across processes via Redis (OMECHAT_REDIS_URL). */
  OMECHAT_BUS: z.enum(['local', 'redis']).default('local'),
  OMECHAT_DATA_DIR: z.string().min(1).default('./data'),
  /**
   * When SQLite acknowledges a write: after the WAL is fsynced (the default: nothing
   * acknowledged is lost, even to a power cut), or before (faster on slow disks; a power cut
   * or kernel crash can lose acknowledged messages, a crash of the server alone cannot).
   */
  OMECHAT_SQLITE_ACK: z.enum(['after-fsync', 'before-fsync']).default('after-fsync'),
  OMECHAT_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest WebSocket frame accepted; larger frames close the socket with 1009. */
  OMECHAT_MAX_PAYLOAD_BYTES: int(16 * 1024, 16 * 1024 * 1024).default(256 * 1024),
  /** Unread bytes a socket may queue before the server drops it with SLOW_CONSUMER (4008). */
  OMECHAT_MAX_BUFFERED_BYTES: int(64 * 1024, 1024 * 1024 * 1024).default(4 * 1024 * 1024),
  /** RAM for hot chat history blocks (LRU by bytes). */
  OMECHAT_HISTORY_CACHE_BYTES: int(0, 64 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /** Messages older than this are purged, hourly. */
  OMECHAT_RETENTION_DAYS: int(1, 3650).default(30),
  /** Reports against an account outlive its deletion this long (evidence), then are purged. */
  OMECHAT_REPORT_RETENTION_DAYS: int(1, 3650).default(365),
  /** A match ticket is withdrawn after waiting this long. */
  OMECHAT_MATCH_TICKET_TTL_MS: int(1000, 24 * 3600 * 1000).default(10 * 60 * 1000),
  /** How long a ticket holds out for a shared interest before taking any compatible stranger. */
  OMECHAT_MATCH_INTEREST_RELAX_MS: int(0, 3600 * 1000).default(10_000),
  /** Server ping interval; a peer that misses a pong is dropped. */
  OMECHAT_KEEPALIVE_MS: int(1000, 600_000).default(30_000),
  OMECHAT_PONG_WAIT_MS: int(500, 600_000).default(10_000),
  /** argon2id cost. The floor is OWASP's minimum (m=19 MiB, t=2, p=1). */
  OMECHAT_ARGON2_MEMORY_KIB: int(19456, 4 * 1024 * 1024).default(19456),
  OMECHAT_ARGON2_TIME_COST: int(2, 20).default(2),
  /** How long shutdown waits for in-flight calls before closing storage. */
  OMECHAT_SHUTDOWN_GRACE_MS: int(0, 120_000).default(5_000),

  /** Authorises the admin.* procedures (connectionParams `{adminToken}`); unset: admin API off. */
  OMECHAT_ADMIN_TOKEN: secretSetting,
  /** Key of the HMAC that turns a client's /24 or /64 into its network key; unset: random per process. */
  OMECHAT_NETWORK_KEY: secretSetting,
  /** Comma-separated proxy IPs whose X-Forwarded-For is believed; none by default. */
  OMECHAT_TRUSTED_PROXIES: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.union([z.ipv4(), z.ipv6()], { error: 'must be IP addresses separated by commas (no ranges)' }))),
  /**
   * Automatic escalation: reports within the window whose weight (reporter's age and history,
   * one per network cluster, only with a conversation) adds up to this suspend an account.
   */
  OMECHAT_REPORTS_TO_SUSPEND: int(1, 1000).default(3),
  OMECHAT_REPORT_WINDOW_MS: int(1000, 365 * 24 * 3600 * 1000).default(24 * 3600 * 1000),
  /** The first suspension; each later one lasts FACTOR times longer; after N it is permanent. */
  OMECHAT_SUSPENSION_MS: int(1000, 365 * 24 * 3600 * 1000).default(24 * 3600 * 1000),
  OMECHAT_SUSPENSION_FACTOR: int(1, 100).default(4),
  OMECHAT_SUSPENSIONS_BEFORE_PERMANENT: int(0, 100).default(3),
  /** Where rate limits count: this process, Redis (shared by processes), or off (benchmarks). */
  OMECHAT_RATE_LIMIT_STORE: z.enum(['memory', 'redis', 'off']).default('memory'),
  OMECHAT_REDIS_URL: z.url().default('redis://127.0.0.1:6379'),
  /** Namespaces every Redis key and channel (bus, rate limits, matcher): deployments sharing a Redis stay apart. */
  OMECHAT_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . : -').default('omechat'),
  /** While Redis is unreachable, rate limits count in each process (`local`) or refuse with UNAVAILABLE (`closed`). */
  OMECHAT_RATE_LIMIT_REDIS_DOWN: z.enum(['local', 'closed']).default('local'),
  /** Where waiting match tickets live: this process (`memory`) or Redis, shared by every process (`redis`). */
  OMECHAT_MATCHER: z.enum(['memory', 'redis']).default('memory'),
  OMECHAT_RATE_REGISTER_PER_NETWORK: rateRule('10/3600'),
  OMECHAT_RATE_LOGIN_FAILURES_PER_USERNAME: rateRule('10/900/900'),
  OMECHAT_RATE_LOGIN_FAILURES_PER_NETWORK: rateRule('50/900/900'),
  OMECHAT_RATE_MESSAGES_BURST: rateRule('20/5'),
  OMECHAT_RATE_MESSAGES_SUSTAINED: rateRule('300/300'),
  OMECHAT_RATE_MATCH_STARTS: rateRule('30/60'),
  OMECHAT_RATE_CONNECTIONS_PER_NETWORK: rateRule('120/60'),
  OMECHAT_RATE_ADMIN_FAILURES_PER_NETWORK: rateRule('10/900/3600'),
  OMECHAT_RATE_POW_CHALLENGES_PER_NETWORK: rateRule('60/60'),
  /** Registration proof-of-work (docs/safety.md): the most attempts a solution needs; 0 turns it off. */
  OMECHAT_POW_DIFFICULTY: int(0, 1_000_000_000).default(4000),
  OMECHAT_POW_TTL_SECONDS: int(10, 3600).default(300),
  /** HMAC key of challenges; unset: random per process (set it when several processes serve one site). */
  OMECHAT_POW_KEY: secretSetting,
  /** Registrations beyond these raise the difficulty by OMECHAT_POW_HOT_FACTOR (each). */
  OMECHAT_POW_HOT_PER_NETWORK: rateRule('3/600'),
  OMECHAT_POW_HOT_OVERALL: rateRule('600/600'),
  OMECHAT_POW_HOT_FACTOR: int(1, 1000).default(8),
  OMECHAT_RATE_REPORTS_PER_USER: rateRule('10/3600'),

  // Hostile clients (docs/safety.md, "Threat model"): what one socket, frame or account may cost.
  /** Open WebSocket connections, overall and per network (/24, /64; /56 and /48 get 4x and 16x), counted at the HTTP upgrade. */
  OMECHAT_MAX_SOCKETS: int(1, 1_000_000).default(4096),
  OMECHAT_MAX_SOCKETS_PER_NETWORK: int(1, 1_000_000).default(256),
  /** A socket opened for connectionParams that has not sent them by then is closed (4002). */
  OMECHAT_CREDENTIALS_TIMEOUT_MS: int(100, 120_000).default(5_000),
  /** Calls one frame may batch; a longer batch, or a frame that is not a request, closes the socket (4002). */
  OMECHAT_MAX_BATCH: int(1, 10_000).default(50),
  /** Queries and mutations one connection may have running at once; more are refused RATE_LIMITED. */
  OMECHAT_MAX_CALLS_IN_FLIGHT: int(1, 10_000).default(64),
  /** A chat.history page stops once it holds this many bytes of envelopes (hasMore says so). */
  OMECHAT_HISTORY_PAGE_BYTES: int(96 * 1024, 64 * 1024 * 1024).default(1024 * 1024),
  /** Stored message bytes (envelope JSON) per user and per chat: points are bytes. */
  OMECHAT_RATE_MESSAGE_BYTES_PER_USER: rateRule(`${64 * 1024 * 1024}/86400`),
  OMECHAT_RATE_MESSAGE_BYTES_PER_CHAT: rateRule(`${32 * 1024 * 1024}/86400`),
  /** Secret checks (login, account.delete, account.rotateSecret) counted before argon2 runs, per network. */
  OMECHAT_RATE_SECRET_CHECKS_PER_NETWORK: rateRule('100/900'),
  /** argon2 hashes running at once (the rest wait in a bounded queue, off libuv's pool that the WAL fsync needs). */
  OMECHAT_ARGON2_CONCURRENCY: int(1, 64).default(2),
  OMECHAT_ARGON2_QUEUE: int(0, 100_000).default(64),
  /** Secret checks one network may have waiting or running at once. */
  OMECHAT_SECRET_CHECKS_IN_FLIGHT_PER_NETWORK: int(1, 1000).default(4),
  /** Serve /metrics on this port only, without a token (unset: on the main port, to `Authorization: Bearer <OMECHAT_ADMIN_TOKEN>`). */
  OMECHAT_METRICS_PORT: int(0, 65535).optional(),
  OMECHAT_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  // issue 15: chatter and safety
  /** chat.typing per device. Clients send one every few seconds while typing (the web page and CLI: at most every 3 s). */
  OMECHAT_RATE_TYPING: rateRule('120/60'),
  /** message.markRead per device: one per incoming message is the most a client sends. */
  OMECHAT_RATE_READ_RECEIPTS: rateRule('300/60'),
  /** safety.block and safety.unblock together, per user. */
  OMECHAT_RATE_BLOCKS: rateRule('60/3600'),
  /** keys.bundles per device and addressed user (a peer, or the user's own devices); each call takes one-time prekeys. */
  OMECHAT_RATE_KEY_BUNDLES: rateRule('20/3600'),
  /**
   * Report evidence (docs/safety.md, "Automatic escalation"): a report weighs nothing unless the
   * reported user sent at least this many messages in the reported chat.
   */
  OMECHAT_REPORT_MIN_MESSAGES: int(0, 100).default(3),
  /** A report weighs nothing while its reporter's account is younger than this, half until FULL, then 1. */
  OMECHAT_REPORT_MIN_REPORTER_AGE_MS: int(0, 365 * 24 * 3600 * 1000).default(24 * 3600 * 1000),
  OMECHAT_REPORT_FULL_REPORTER_AGE_MS: int(0, 365 * 24 * 3600 * 1000).default(7 * 24 * 3600 * 1000),
  // issue 17: page, matching, dev
  /** Serve the built chat page at / (built on first start if missing); `off` for an API-only server. */
  OMECHAT_WEB: z.enum(['on', 'off']).default('on'),
  /** Two users are not paired with each other again for this long after one of them left their chat; 0: at once. */
  OMECHAT_MATCH_REMATCH_AFTER_MS: int(0, 7 * 24 * 3600 * 1000).default(30 * 60 * 1000),
  /** `1`: development mode, whose defaults relax registration limits and the proof-of-work (DEV_DEFAULTS). */
  OMECHAT_DEV: z.enum(['0', '1']).default('0'),
  /** Where the built page is (and is built on first start); empty: this repository's apps/web/dist. */
  OMECHAT_WEB_DIR: z.string().default(''),
}).refine((config) => config.OMECHAT_STORAGE !== 'postgres' || config.OMECHAT_DATABASE_URL !== undefined, {
  path: ['OMECHAT_DATABASE_URL'],
  message: 'required when OMECHAT_STORAGE=postgres',
  // Checked even when other variables are bad, so one run names every problem.
  when: () => true,
});

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The defaults OMECHAT_DEV=1 changes: a developer signs up again and again from one network,
 * which the production defaults make 8x slower after 3 sign-ups and refuse after 10. The
 * proof-of-work stays on, at a trivial cost, so clients still exercise it. Variables set
 * explicitly win over these.
 */
export const DEV_DEFAULTS: Readonly<Record<string, string>> = {
  OMECHAT_RATE_REGISTER_PER_NETWORK: '100000/3600',
  OMECHAT_POW_DIFFICULTY: '10',
  OMECHAT_POW_HOT_PER_NETWORK: '100000/600',
  OMECHAT_RATE_POW_CHALLENGES_PER_NETWORK: '100000/60',
};

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  let known = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('OMECHAT_')));
  if (known.OMECHAT_DEV === '1') known = { ...DEV_DEFAULTS, ...known };
  const parsed = schema.safeParse(known);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${describeIssue(issue, known)}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** Variables whose values are never echoed back (they are, or may contain, secrets). */
const SECRET = /TOKEN|KEY$|URL$/;

/** Examples for variables whose default is not a usable example. */
const EXAMPLES: Record<string, string> = {
  OMECHAT_DATABASE_URL: 'postgres://omechat:password@127.0.0.1:5432/omechat',
  OMECHAT_ADMIN_TOKEN: '<at least 32 random characters, e.g. from `openssl rand -hex 32`>',
  OMECHAT_NETWORK_KEY: '<at least 32 random characters, e.g. from `openssl rand -hex 32`>',
  OMECHAT_TRUSTED_PROXIES: '10.0.0.5,10.0.0.6',
};

/** A valid value for `name`: from the table above, else its default. */
function exampleOf(name: string): string | undefined {
  return EXAMPLES[name] ?? defaultOf(name);
}

/** Every setting's name and default (undefined: none), in schema order, for `omechat-server --help`. */
export function settingDefaults(): { name: keyof Config; fallback: string | undefined }[] {
  return (Object.keys(schema.shape) as (keyof Config)[]).map((name) => ({ name, fallback: defaultOf(name) }));
}

function defaultOf(name: string): string | undefined {
  let field = (schema.shape as Record<string, z.ZodType | undefined>)[name];
  // Walk pipes (transforms) and optionals to the default, if there is one.
  for (let depth = 0; field && depth < 5; depth++) {
    const def = field._zod.def as { type: string; in?: z.ZodType; innerType?: z.ZodType; defaultValue?: unknown };
    if (def.type === 'default') return String(def.defaultValue);
    field = def.in ?? def.innerType;
  }
  return undefined;
}

/** `OMECHAT_PORT="abc": not a number; for example OMECHAT_PORT=8080`, never echoing a secret. */
function describeIssue(issue: z.core.$ZodIssue, env: Record<string, string | undefined>): string {
  const name = String(issue.path[0] ?? '(configuration)');
  const value = env[name];
  const shown = value === undefined ? `${name} is unset` : SECRET.test(name) ? name : `${name}=${JSON.stringify(value)}`;
  let problem = issue.message;
  // zod's own wording ("Invalid input: expected number, received NaN") is for programmers.
  if (issue.code === 'invalid_type') problem = issue.expected === 'number' ? 'is not a number' : issue.expected === 'int' ? 'is not a whole number' : `is not a ${issue.expected}`;
  else if (issue.code === 'invalid_value') problem = `must be one of ${issue.values.map(String).join(', ')}`;
  else if (issue.code === 'too_small') {
    problem = issue.origin === 'string' ? `is too short: at least ${issue.minimum} characters` : `is too small: at least ${issue.minimum}`;
  } else if (issue.code === 'too_big') {
    problem = issue.origin === 'string' ? `is too long: at most ${issue.maximum} characters` : `is too large: at most ${issue.maximum}`;
  } else if (issue.code === 'invalid_format' && issue.format === 'url') problem = 'is not a URL';
  const example = exampleOf(name);
  return `${shown}: ${problem}${example === undefined ? '' : `; for example ${name}=${example}`}`;
}
