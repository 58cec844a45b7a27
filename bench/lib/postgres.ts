import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { cpuBetween, cpuByName } from './proc.ts';

/** The PostgreSQL the benchmarks use: $OMECHAT_TEST_POSTGRES_URL, as the tests, or the local one. */
export const POSTGRES_URL = process.env.OMECHAT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * A fresh schema for one run, and the URL a server is given to use it: the server has no
 * schema setting, so the URL sets the connection's search_path (libpq `options`) and an
 * application_name by which this run's backends are found in pg_stat_activity.
 */
export function benchDatabase(label: string): { schema: string; serverUrl: string; applicationName: string } {
  const schema = `bench_${label}_${randomBytes(4).toString('hex')}`;
  const applicationName = `omechat-${schema}`;
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  url.searchParams.set('application_name', applicationName);
  return { schema, serverUrl: url.toString(), applicationName };
}

async function withClient<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

export function dropSchema(schema: string): Promise<void> {
  return withClient(async (c) => {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
}

/**
 * CPU of PostgreSQL over a run, from /proc (utime + stime): `backends` = the backends serving
 * this run's servers (by application_name), `all` = every postgres process on the machine,
 * including the WAL writer and checkpointer, and whatever else uses the shared database.
 */
export class PostgresCpu {
  #before = new Map<number, number>();
  constructor(readonly applicationName: string) {}

  start(): void {
    this.#before = cpuByName('postgres');
  }

  async stop(): Promise<{ backends: number; all: number }> {
    const after = cpuByName('postgres');
    const pids = await withClient(async (c) => {
      const r = await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [this.applicationName]);
      return new Set(r.rows.map((row) => row.pid));
    });
    return { backends: cpuBetween(this.#before, after, pids), all: cpuBetween(this.#before, after) };
  }
}
