import { afterEach, describe, expect, it } from 'vitest';
import { networkKeyOf, networkPrefixes } from '@omechat/server/testing';
import { codeOf, connectFrom, startTestServer, uniqueName, waitFor, type TestServer } from '../harness.js';
import { ADMIN_TOKEN, adminClient, failure } from '../safety-harness.js';

/**
 * Before: bans, registration and login limits and proof-of-work pricing keyed on the IPv6
 * /64, so a customer with a /56 or a /48 had 256 to 65,536 fresh networks, and NAT64
 * (64:ff9b::/96) made every IPv4 client behind it look like one IPv6 network. Now limits
 * count at the /64, /56 (4x) and /48 (16x), bans match at any of them, and NAT64 is the
 * IPv4 it carries. Clients come through a trusted proxy here, which names them in
 * X-Forwarded-For, as a load balancer would.
 */
const NETWORK_KEY = 'ipv6-network-key-'.padEnd(40, 'k');
let t: TestServer;
const open: { close(): unknown }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await t.destroy();
});

const from = (address: string) => {
  const client = connectFrom(t.url, '127.0.0.1', null, { 'x-forwarded-for': address });
  open.push(client);
  return client;
};
const register = (address: string) => from(address).account.register({ username: uniqueName('v6'), age: 20 });

describe('IPv6 networks', () => {
  it('registration limits hold over a /56, not just each /64', async () => {
    t = await startTestServer({ OMECHAT_TRUSTED_PROXIES: '127.0.0.1', OMECHAT_RATE_REGISTER_PER_NETWORK: '2/3600' });
    // Eight /64s of one /56 (2001:db8:0:1a00::/56): 2 per /64 would allow 16; the /56 allows 8.
    for (let i = 0; i < 8; i++) await register(`2001:db8:0:1a${i.toString(16).padStart(2, '0')}::1`);
    expect(await codeOf(register('2001:db8:0:1af0::1'))).toBe('RATE_LIMITED');
    // Another /56 of the same /48 has its own budget (the /48 allows 32).
    await register('2001:db8:0:2b00::1');
  });

  it('NAT64 (64:ff9b::/96) counts as the IPv4 network it carries', async () => {
    t = await startTestServer({ OMECHAT_TRUSTED_PROXIES: '127.0.0.1', OMECHAT_RATE_REGISTER_PER_NETWORK: '2/3600' });
    await register('203.0.113.5');
    await register('203.0.113.6');
    expect(await codeOf(register('64:ff9b::203.0.113.77'))).toBe('RATE_LIMITED');
    expect(await codeOf(register('64:ff9b::cb00:7178'))).toBe('RATE_LIMITED');
  });

  it('a ban on a /56 (a key the moderator sees among the account’s networks) holds for every /64 in it', async () => {
    t = await startTestServer({ OMECHAT_TRUSTED_PROXIES: '127.0.0.1', OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN, OMECHAT_NETWORK_KEY: NETWORK_KEY });
    const home = '2001:db8:5:1a01::7';
    const client = from(home);
    const username = uniqueName('v6');
    const { userHash, secret } = await client.account.register({ username, age: 20 });
    await client.account.login({ username, secret }); // the device connects with its credentials: a sighting
    const admin = adminClient(t.url);
    open.push(admin);
    const [, wide56] = networkPrefixes(home).map((prefix) => networkKeyOf(NETWORK_KEY, prefix));
    // The device is seen at its /64, /56 and /48, as keys only.
    await waitForSightings(admin, userHash, 3);
    const seen = await admin.trpc.admin.users.get.query({ userHash });
    expect(seen.networks.map((n) => n.networkKey)).toContain(wide56);
    await admin.trpc.admin.bans.create.mutate({ layer: 'network', target: wide56!, reason: 'raid', expiresAt: Date.now() + 3600_000 });
    expect(await failure(register('2001:db8:5:1aff::1'))).toMatchObject({ code: 'BANNED', details: { banLayer: 'network' } });
    // Outside that /56 nothing changes.
    await register('2001:db8:5:2a00::1');
  });
});

async function waitForSightings(admin: ReturnType<typeof adminClient>, userHash: string, count: number) {
  await waitFor(async () => (await admin.trpc.admin.users.get.query({ userHash: userHash })).networks.length >= count, 'sightings');
}
