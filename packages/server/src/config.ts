import { z } from 'zod';

/**
 * The only place that reads process.env. Every setting is validated at start; a bad value
 * stops the server with a message naming the variable.
 */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const schema = z.object({
  OMECHAT_HOST: z.string().min(1).default('0.0.0.0'),
  OMECHAT_PORT: int(0, 65535).default(8080),
  OMECHAT_STORAGE: z.enum(['sqlite', 'memory']).default('sqlite'),
  OMECHAT_DATA_DIR: z.string().min(1).default('./data'),
  OMECHAT_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest WebSocket frame accepted; larger frames close the socket with 1009. */
  OMECHAT_MAX_PAYLOAD_BYTES: int(16 * 1024, 16 * 1024 * 1024).default(256 * 1024),
  /** Unread bytes a socket may queue before the server drops it with SLOW_CONSUMER (4008). */
  OMECHAT_MAX_BUFFERED_BYTES: int(64 * 1024, 1024 * 1024 * 1024).default(4 * 1024 * 1024),
  /** RAM for hot chat history blocks (LRU by bytes). */
  OMECHAT_HISTORY_CACHE_BYTES: int(0, 64 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /** Messages older than this are purged, hourly. */
  OMECHAT_RETENTION_DAYS: int(1, 3650).default(30),
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
});

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('OMECHAT_')));
  const parsed = schema.safeParse(known);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

