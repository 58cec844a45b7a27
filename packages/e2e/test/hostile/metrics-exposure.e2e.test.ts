import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness.js';
import { ADMIN_TOKEN } from '../safety-harness.js';

/**
 * Before: `/metrics` answered anyone, and its waiting tickets and connection counts are a map
 * of the service for an attacker. Now it is served to the admin token as a bearer token, or
 * on a listener of its own (OMECHAT_METRICS_PORT, on 127.0.0.1 by default) and not on the main port.
 */
let t: TestServer;
afterEach(async () => {
  await t.destroy();
});
const httpOf = (server: TestServer) => server.url.replace(/^ws/, 'http').replace(/\/trpc$/, '');

describe('/metrics', () => {
  it('answers the admin token only', async () => {
    t = await startTestServer({ OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN });
    const anonymous = await fetch(`${httpOf(t)}/metrics`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await anonymous.text()).not.toContain('omechat_');
    expect((await fetch(`${httpOf(t)}/metrics`, { headers: { authorization: 'Bearer wrong-token' } })).status).toBe(401);
    const admin = await fetch(`${httpOf(t)}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(admin.status).toBe(200);
    expect(await admin.text()).toContain('omechat_connections');
  });

  it('is not on the main port when the server has no admin token', async () => {
    t = await startTestServer();
    expect((await fetch(`${httpOf(t)}/metrics`)).status).toBe(404);
  });

  it('with OMECHAT_METRICS_PORT, is served there (loopback) and nowhere else', async () => {
    t = await startTestServer({ OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN, OMECHAT_METRICS_PORT: '0' });
    expect((await fetch(`${httpOf(t)}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(404);
    const own = await fetch(`http://127.0.0.1:${t.server.metricsPort}/metrics`);
    expect(own.status).toBe(200);
    expect(await own.text()).toContain('omechat_connections');
  });
});
