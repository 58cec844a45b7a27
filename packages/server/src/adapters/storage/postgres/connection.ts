import { Pool, types, type CustomTypesConfig, type PoolClient, type QueryResult, type QueryResultRow } from 'pg';
import type { UserHash } from '@omechat/protocol';
import { systemClock, type Clock } from '../../../ports/clock.js';
import type { NewEvent, StoredEvent } from '../../../ports/storage.js';
import { DomainError } from '../../../core/domain-error.js';
import { assertSchemaName, migratePostgres } from './migrations.js';

export interface PostgresStorageOptions {
  /** A libpq-style URL, e.g. postgres://user:pass@host:5432/db. */
  url: string;
  /** Tables live in this schema (created if missing); default: the connection's search_path. */
  schema?: string;
  /** Stamps `createdAt` on events. */
  clock?: Clock;
  /** Most connections the pool opens; default 10. */
  maxConnections?: number;
  /**
   * Told when an idle pooled connection fails (the server went away); the pool replaces it.
   * Gets only a summary: pg hangs the whole client (password, cancel key) on the error.
   */
  onIdleError?: (err: ConnectionFailure) => void;
  /**
   * How long a call waits for a pooled connection (a free one, or a new one to connect)
   * before it fails with UNAVAILABLE. Default: no limit, as pg's, because under a saturating
   * load calls queue for a free connection for seconds (measured: p99 6.5 s on a loaded 2-core
   * box) and should be served late rather than refused. A database that is down refuses or
   * resets connections, which fails calls at once either way.
   */
  connectTimeoutMs?: number;
}

/** What may be said about a failed connection: no client object, no credentials. */
export interface ConnectionFailure {
  message: string;
  code?: string;
}

/**
 * Errors that mean "the database cannot be reached now", not "this statement is wrong":
 * socket errors, pg's own connection messages, and the SQLSTATEs of a server that is
 * shutting down, starting, or out of connection slots (class 08 and 57P01-57P03, 53300).
 */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
export function isConnectionError(err: unknown): boolean {
  const code = pgCode(err);
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code) || code === '53300')) return true;
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Client was closed/i.test(message);
}

const summarise = (err: unknown): ConnectionFailure => {
  const code = pgCode(err);
  return { message: err instanceof Error ? err.message : String(err), ...(typeof code === 'string' ? { code } : {}) };
};

const unavailable = (err: unknown) =>
  isConnectionError(err) ? new DomainError('UNAVAILABLE', 'The database is unreachable; try again shortly') : err;

/** What both the pool (one autocommitted statement) and a transaction's client can run. */
export interface Sql {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

/**
 * bigint columns (timestamps in ms, ids, seqs) come back as JS numbers: they stay far below
 * 2^53, and every record type of the port declares them as `number`.
 */
const parseTypes: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === (types.builtins.INT8 as number) ? Number : types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

export const FOREIGN_KEY_VIOLATION = '23503';
export const pgCode = (err: unknown) => (err as { code?: unknown } | null)?.code;

/**
 * The pool every store of PostgresStorage shares, and how statements run on it: `read` for
 * statements that need no transaction, `tx` for several in one, and the stream ids and events
 * appended inside a caller's transaction. A method resolves after COMMIT, which
 * (synchronous_commit on) is durable.
 */
export class PostgresConnection {
  readonly #pool: Pool;
  readonly #clock: Clock;
  #closed = false;

  /** Connects and brings the schema up to date. */
  static async open(options: PostgresStorageOptions): Promise<PostgresConnection> {
    const schema = options.schema ?? null;
    if (schema !== null) assertSchemaName(schema);
    const pool = new Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      ...(options.connectTimeoutMs !== undefined ? { connectionTimeoutMillis: options.connectTimeoutMs } : {}),
      // Unqualified table names resolve in our schema on every pooled connection.
      ...(schema !== null ? { options: `-c search_path=${schema}` } : {}),
      types: parseTypes,
    });
    // An idle connection that dies must not become an uncaught 'error' event.
    pool.on('error', (err) => options.onIdleError?.(summarise(err)));
    try {
      const client = await pool.connect();
      // Checked out, it has no listener of the pool's: a reset fails the migration, not the process.
      let broken: Error | undefined;
      client.on('error', (err) => (broken = err));
      try {
        await migratePostgres(client, schema);
      } finally {
        client.release(broken);
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return new PostgresConnection(pool, options.clock ?? systemClock);
  }


  private constructor(pool: Pool, clock: Clock) {
    this.#pool = pool;
    this.#clock = clock;
  }

  /** Waits for transactions in flight to finish, then closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  // --- plumbing -------------------------------------------------------------------

  assertOpen(): void {
    if (this.#closed) throw new Error('PostgresStorage is closed');
  }

  /** Resolves when the database answers a trivial query; rejects (UNAVAILABLE) otherwise. */
  async ping(): Promise<void> {
    await this.read((sql) => sql.query('SELECT 1'));
  }

  /** Statements that need no transaction: each runs on its own pooled connection. */
  async read<R>(fn: (sql: Sql) => Promise<R>): Promise<R> {
    this.assertOpen();
    try {
      return await fn(this.#pool);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async one<R extends QueryResultRow>(text: string, values: unknown[] = []): Promise<R | null> {
    return this.read(async (sql) => (await sql.query<R>(text, values)).rows[0] ?? null);
  }

  async all<R extends QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return this.read(async (sql) => (await sql.query<R>(text, values)).rows);
  }

  async changed(text: string, values: unknown[]): Promise<boolean> {
    return this.read(async (sql) => ((await sql.query(text, values)).rowCount ?? 0) > 0);
  }

  /**
   * Runs `fn` in one transaction on one connection: COMMIT if it resolves, ROLLBACK if it
   * throws (including when a callback of the caller, such as an event or audit builder,
   * throws). A connection whose ROLLBACK failed, or that failed while checked out, is
   * dropped rather than reused. A lost connection fails the call with UNAVAILABLE: if it
   * was lost during COMMIT the write may have landed, so callers retry idempotently.
   */
  async tx<R>(fn: (sql: Sql) => Promise<R>): Promise<R> {
    this.assertOpen();
    let client: PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw unavailable(err);
    }
    let broken: Error | undefined;
    // The pool listens for errors on idle clients only: without this, a connection reset
    // while a transaction holds the client is an uncaught 'error' event that ends the process.
    const onError = (err: Error) => (broken = err);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      try {
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
          broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
        });
        throw err;
      }
    } catch (err) {
      throw unavailable(err);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  /**
   * Takes the next id of each user's stream, inside the caller's transaction: one more for
   * every time the user is named. The stream rows stay locked until COMMIT, so a user's ids
   * become visible in increasing order (a stream reads `id > cursor` and must never find a
   * smaller id committed after a larger one), and a rollback gives them back. Only the
   * streams written to are locked, never a row shared by every append; they are locked in
   * one order (after any chat row), so appends cannot deadlock with each other.
   */
  async nextIds(sql: Sql, userHashes: readonly UserHash[]): Promise<Map<UserHash, number>> {
    const counts = new Map<UserHash, number>();
    for (const u of userHashes) counts.set(u, (counts.get(u) ?? 0) + 1);
    const users = [...counts.keys()].sort();
    const { rows } = await sql.query<{ userHash: UserHash; lastId: number }>(
      `INSERT INTO streams (user_hash, last_event_id)
       SELECT * FROM unnest($1::text[], $2::bigint[]) ORDER BY 1
       ON CONFLICT (user_hash) DO UPDATE SET last_event_id = streams.last_event_id + excluded.last_event_id
       RETURNING user_hash AS "userHash", last_event_id AS "lastId"`,
      [users, users.map((u) => counts.get(u))],
    );
    // The first id taken for each user: its new head minus what was taken, plus one.
    return new Map(rows.map((r) => [r.userHash, r.lastId - counts.get(r.userHash)! + 1]));
  }

  /** Appends events inside the caller's transaction, numbered in each user's stream. */
  async appendEvents(sql: Sql, events: readonly NewEvent[]): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    const next = await this.nextIds(sql, events.map((e) => e.userHash));
    const createdAt = this.#clock.now();
    const stored = events.map(({ userHash, type, payload }): StoredEvent => {
      const id = next.get(userHash)!;
      next.set(userHash, id + 1);
      return { id, userHash, type, payload, createdAt };
    });
    await sql.query(
      `INSERT INTO stream_events (user_hash, id, type, payload, created_at)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]), (SELECT $5::bigint) AS t`,
      [stored.map((e) => e.userHash), stored.map((e) => e.id), stored.map((e) => e.type), stored.map((e) => e.payload), createdAt],
    );
    return stored;
  }
}
