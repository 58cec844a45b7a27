import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '@omechat/protocol';
import { envelopeFor, recorder, signUp, startTestServer, waitFor, type TestServer } from './harness.js';

let t: TestServer;
let http: string;
beforeAll(async () => {
  t = await startTestServer({ OMECHAT_MATCH_TICKET_TTL_MS: '1000' });
  http = t.url.replace('ws:', 'http:').replace('/trpc', '');
});
afterAll(async () => {
  await t.destroy();
});

describe('HTTP probes', () => {
  it('answers /healthz and /readyz with JSON and 404s anything else', async () => {
    const health = await fetch(`${http}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', protocol: PROTOCOL_VERSION });
    const ready = await fetch(`${http}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready', database: 'up', bus: 'up' });
    expect((await fetch(`${http}/nope`)).status).toBe(404);
  });

  it('reports the history cache hit rate in /metrics', async () => {
    const a = await signUp(t.url, 70);
    const b = await signUp(t.url, 70);
    const ea = recorder(a.client);
    await waitFor(() => a.client.state === 'connected', 'connection');
    await a.client.match.start({ tolerance: 0 });
    await b.client.match.start({ tolerance: 0 });
    const { chatId } = await ea.next('match.found');
    await a.client.message.send({ chatId, envelope: envelopeFor([b.credentials.clientHash], 'hi') });
    await b.client.chat.history({ chatId, limit: 10 });
    await b.client.chat.history({ chatId, limit: 10 });
    const metrics = await (await fetch(`${http}/metrics`)).text();
    // The new message's block was cached as it was stored, so both reads were hits.
    expect(metrics).toMatch(/omechat_history_cache_hits [2-9]/);
    expect(metrics).toMatch(/omechat_history_cache_hit_rate 1\n/);
    expect(metrics).toMatch(/omechat_connections [1-9]/);
    await Promise.all([a.client.close(), b.client.close()]);
  });
});

describe('match tickets', () => {
  it('are withdrawn after the configured wait', async () => {
    const lonely = await signUp(t.url, 99);
    await lonely.client.match.start({ tolerance: 0 });
    expect(await t.core.deps.matcher.has(lonely.userHash as never)).toBe(true);
    await waitFor(async () => !(await t.core.deps.matcher.has(lonely.userHash)), 'the ticket to expire', 5000);
    await lonely.client.close();
  });
});

describe('the server binary', () => {
  it('refuses bad configuration with a message naming the variable and exit code 78', async () => {
    const bin = join(import.meta.dirname, '../bin/omechat-server.js');
    const result = await promisify(execFile)(process.execPath, [bin, 'serve'], {
      env: { ...process.env, OMECHAT_PORT: 'not-a-port' },
    }).catch((err: { code: number; stderr: string }) => err);
    expect('code' in result && result.code).toBe(78);
    expect((result as { stderr: string }).stderr).toMatch(/OMECHAT_PORT/);
  });
});
