import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@omechat/protocol';
import { signUpFrom, startTestServer, waitFor, type TestServer } from '../harness.js';
import { BYSTANDER_P99_MS, bystanders, rawSocket, type RawSocket } from './attack-harness.js';

/**
 * Attack: open sockets for connectionParams and never send them, until the server runs out
 * of file descriptors (before: 19,964 sockets from one /24 in 5.3 s, each held ~40 s, and
 * /healthz stopped answering). Now sockets are counted at the HTTP upgrade, capped per
 * network and overall, and one that has not sent its credentials is closed (4002).
 */
let t: TestServer;
const sockets: RawSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.ws.terminate();
  await t.destroy();
});

const open = (url: string, localAddress: string) => {
  const s = rawSocket(url, { localAddress, connectionParams: true });
  sockets.push(s);
  return s;
};

describe('idle sockets', () => {
  it('are capped per network at the upgrade, closed at the credentials deadline, and never starve other networks', async () => {
    t = await startTestServer({ OMECHAT_MAX_SOCKETS_PER_NETWORK: '40', OMECHAT_MAX_SOCKETS: '100', OMECHAT_CREDENTIALS_TIMEOUT_MS: '3000' });
    const chat = await bystanders(t);
    const attack = Array.from({ length: 200 }, (_, i) => open(t.url, `127.0.1.${(i % 200) + 1}`));
    const outcomes = await Promise.all(attack.map((s) => s.opened));
    // 40 upgraded; the other 160 got HTTP 503 without ever becoming WebSockets.
    expect(outcomes.filter((o) => o === 'open')).toHaveLength(40);
    expect(outcomes.filter((o) => o === 503)).toHaveLength(160);
    // Meanwhile the service answers: health, a sign-up from another network, the bystanders' chat.
    const health = await fetch(t.url.replace('ws:', 'http:').replace('/trpc', '/healthz'));
    expect(health.status).toBe(200);
    const other = await signUpFrom(t.url, '127.0.2.1');
    await chat.acks(20);
    // Each idle socket is closed at its deadline with 4002, which frees its place.
    const codes = await Promise.all(attack.filter((_, i) => outcomes[i] === 'open').map((s) => s.closed));
    expect(new Set(codes)).toEqual(new Set([CLOSE_CODES.PROTOCOL_ERROR]));
    const again = open(t.url, '127.0.1.7');
    expect(await again.opened).toBe('open');
    await other.client.close();
    const { p99 } = await chat.finish();
    expect(p99).toBeLessThan(BYSTANDER_P99_MS);
  });

  it('are capped overall, so many networks together cannot take every descriptor', async () => {
    t = await startTestServer({ OMECHAT_MAX_SOCKETS_PER_NETWORK: '1000', OMECHAT_MAX_SOCKETS: '60', OMECHAT_CREDENTIALS_TIMEOUT_MS: '60000' });
    const attack = Array.from({ length: 120 }, (_, i) => open(t.url, `127.0.${10 + (i % 6)}.1`));
    const outcomes = await Promise.all(attack.map((s) => s.opened));
    expect(outcomes.filter((o) => o === 'open')).toHaveLength(60);
    expect(outcomes.filter((o) => o === 503)).toHaveLength(60);
    // Health checks are plain HTTP: they still answer with every socket place taken.
    expect((await fetch(t.url.replace('ws:', 'http:').replace('/trpc', '/healthz'))).status).toBe(200);
    // Closing attack sockets gives the places back.
    for (const s of attack.slice(0, 10)) s.ws.terminate();
    await waitFor(async () => (await open(t.url, '127.0.3.1').opened) === 'open', 'a freed place');
  });
});
