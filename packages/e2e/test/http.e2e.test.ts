import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { PROTOCOL_VERSION } from '@omechat/protocol';
import { envelopeFor, recorder, signUp, startTestServer, waitFor, type TestClient, type TestServer } from './harness.js';
import { ADMIN_TOKEN } from './safety-harness.js';

let t: TestServer;
let http: string;
beforeAll(async () => {
  t = await startTestServer({ OMECHAT_MATCH_TICKET_TTL_MS: '1000', OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN });
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

  it('exports Prometheus text at /metrics: process figures, counters, histograms and gauges, each with HELP and TYPE', async () => {
    const a = await signUp(t.url, 70);
    const b = await signUp(t.url, 70);
    const ea = recorder(a.client);
    const eb = recorder(b.client);
    await waitFor(() => a.client.state === 'connected' && b.client.state === 'connected', 'connections');
    await a.client.match.start({ tolerance: 0 });
    await b.client.match.start({ tolerance: 0 });
    const { chatId } = await ea.next('match.found');
    await a.client.message.send({ chatId, envelope: envelopeFor([b.credentials.clientHash], 'hi') });
    await eb.next('message.new');
    await b.client.chat.history({ chatId, limit: 10 });
    await b.client.chat.history({ chatId, limit: 10 });
    await (b.client as TestClient).internals.trpc().safety.report.mutate({ chatId, reason: 'spam' });
    const lonely = await signUp(t.url, 99);
    await lonely.client.match.start({ tolerance: 0 });

    const response = await fetch(`${http}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(await response.text());
    const byName = new Map(families.map((f) => [f.name, f]));
    for (const family of families) {
      expect(family.help, family.name).not.toBe('');
      expect(family.type, family.name).not.toBe('UNTYPED');
    }
    const value = (name: string, labels?: Record<string, string>) => {
      const family = byName.get(name);
      expect(family, name).toBeDefined();
      const sample = family!.metrics.find((m) => !labels || Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
      return Number(sample?.value ?? sample?.count);
    };
    // Node's default process metrics: heap, event-loop lag, GC.
    expect(value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(byName.get('nodejs_eventloop_lag_seconds')?.type).toBe('GAUGE');
    expect(byName.get('nodejs_gc_duration_seconds')?.type).toBe('HISTOGRAM');
    // Counters.
    expect(byName.get('omechat_messages_total')?.type).toBe('COUNTER');
    expect(value('omechat_messages_total')).toBe(1);
    expect(value('omechat_matches_total')).toBe(1);
    expect(value('omechat_reports_total', { urgent: 'false' })).toBe(1);
    expect(byName.get('omechat_bans_total')?.type).toBe('COUNTER');
    // Histograms: one send acked, two users matched, at least the message's batch streamed.
    expect(byName.get('omechat_message_send_seconds')?.type).toBe('HISTOGRAM');
    expect(value('omechat_message_send_seconds')).toBe(1);
    expect(value('omechat_match_wait_seconds')).toBe(2);
    expect(value('omechat_stream_batch_events')).toBeGreaterThanOrEqual(1);
    // Gauges.
    expect(value('omechat_connections')).toBeGreaterThanOrEqual(3);
    expect(value('omechat_streams')).toBeGreaterThanOrEqual(2);
    expect(value('omechat_waiting_tickets')).toBe(1);
    expect(value('omechat_history_cache_bytes')).toBeGreaterThan(0);
    // The new message's block was cached as it was stored, so both reads were hits.
    expect(value('omechat_history_cache_hit_rate')).toBe(1);
    await Promise.all([a.client.close(), b.client.close(), lonely.client.close()]);
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
    const bin = join(import.meta.dirname, '../../server/bin/omechat-server.js');
    const result = await promisify(execFile)(process.execPath, [bin, 'serve'], {
      env: { ...process.env, OMECHAT_PORT: 'not-a-port' },
    }).catch((err: { code: number; stderr: string }) => err);
    expect('code' in result && result.code).toBe(78);
    expect((result as { stderr: string }).stderr).toMatch(/OMECHAT_PORT/);
  });
});
