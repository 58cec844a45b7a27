import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, envelopeFor, matchedPair, spawnServer, waitFor } from './harness.js';
import { freshSchema, startTcpProxy, type TcpProxy, type TestSchema } from '@omechat/server/testing';

// .ci/run starts PostgreSQL; the test puts its own proxy in front and never touches the server.
let schema: TestSchema;
// Trust auth ignores it, but the pg client keeps it: it must never reach a log line.
const password = `pw${randomBytes(12).toString('hex')}`;
let proxy: TcpProxy;

beforeAll(async () => {
  schema = await freshSchema('pgfault');
  const postgres = new URL(schema.url);
  proxy = await startTcpProxy({ host: postgres.hostname, port: Number(postgres.port || 5432) });
});
afterAll(async () => {
  await proxy.close();
  await schema.drop();
});

describe('a PostgreSQL outage', () => {
  it('fails calls with UNAVAILABLE, reports it in /readyz, recovers without a restart, loses nothing acknowledged and logs no secret', async () => {
    const url = new URL(schema.url);
    url.password = password;
    url.port = String(proxy.port);
    const dataDir = mkdtempSync(join(tmpdir(), 'omechat-pgfault-'));
    const server = await spawnServer(dataDir, 0, 'debug', { OMECHAT_STORAGE: 'postgres', OMECHAT_DATABASE_URL: url.href });
    const http = server.url.replace(/^ws/, 'http').replace(/\/trpc$/, '');
    const readyz = async () => {
      const res = await fetch(`${http}/readyz`);
      return { code: res.status, body: (await res.json()) as Record<string, string> };
    };
    const { a, b, chatId } = await matchedPair(server.url);
    try {
      // Load: both users send without pause; every acknowledged message must survive.
      const acked: string[] = [];
      const failures: string[] = [];
      let sending = true;
      const sender = async (from: typeof a, to: typeof b, tag: string) => {
        for (let i = 0; sending; i++) {
          const clientMessageId = `${tag}-${i}`;
          try {
            await from.client.message.send({ chatId, envelope: envelopeFor([to.credentials.clientHash], clientMessageId), clientMessageId });
            acked.push(clientMessageId);
          } catch (err) {
            failures.push((err as { code?: string }).code ?? 'unknown');
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      };
      const load = Promise.all([sender(a, b, 'a'), sender(b, a, 'b')]);
      await waitFor(() => acked.length >= 20, 'messages acknowledged before the outage');
      // Parallel reads open several pooled connections, which then sit idle when the proxy
      // resets them: the failure of an idle client is what pg logs with the whole client.
      await Promise.all(Array.from({ length: 6 }, () => a.client.chat.history({ chatId, limit: 5 })));

      await proxy.down();
      await waitFor(async () => (await readyz()).code === 503, '/readyz to report the outage', 15_000);
      expect(await readyz()).toEqual({ code: 503, body: { status: 'unavailable', database: 'down', bus: 'up' } });
      expect(await codeOf(a.client.chat.history({ chatId, limit: 5 }))).toBe('UNAVAILABLE');
      await waitFor(() => failures.length >= 4, 'sends refused during the outage', 15_000);
      expect(new Set(failures)).toEqual(new Set(['UNAVAILABLE']));

      await proxy.up();
      await waitFor(async () => (await readyz()).code === 200, '/readyz to recover', 15_000);
      const before = acked.length;
      await waitFor(() => acked.length >= before + 20, 'sends to succeed again', 15_000);
      sending = false;
      await load;
      expect(server.exited()).toBe(false);

      const stored = await schema.admin.query<{ id: string }>(`SELECT client_message_id AS id FROM ${schema.name}.messages`);
      const storedIds = new Set(stored.rows.map((r) => r.id));
      expect(acked.filter((id) => !storedIds.has(id))).toEqual([]);
      const history = await b.client.chat.history({ chatId, limit: 100 });
      expect(history.messages.length).toBeGreaterThan(0);

      const logs = server.output();
      expect(logs).toContain('an idle PostgreSQL connection failed');
      for (const secret of [password, 'secretKey', 'processID', 'connectionParameters', '"client":{']) expect(logs).not.toContain(secret);
    } finally {
      await Promise.all([a.client.close(), b.client.close()]);
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
