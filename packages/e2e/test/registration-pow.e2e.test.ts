import { afterEach, describe, expect, it } from 'vitest';
import { solvePow, type PowProgress } from '@omechat/sdk';
import type { PowChallenge } from '@omechat/protocol';
import { altchaProofOfWork } from '@omechat/server/testing';
import { connectFrom, startTestServer, uniqueName, type TestServer } from './harness.js';
import { errorOf, rawClient } from './raw-client.js';

/** Registration proof-of-work against the real server: every typed refusal, and the policy. */
const POW_KEY = 'registration-pow-test-key-'.padEnd(40, 'p');
const NETWORK_KEY = 'registration-pow-network-key-'.padEnd(40, 'n');
const servers: TestServer[] = [];
const clients: { close(): unknown }[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.destroy()));
});

async function server(env: Record<string, string> = {}) {
  const t = await startTestServer({ OMECHAT_POW_DIFFICULTY: '40', OMECHAT_POW_KEY: POW_KEY, OMECHAT_NETWORK_KEY: NETWORK_KEY, ...env });
  servers.push(t);
  return t;
}
function raw(url: string) {
  const c = rawClient(url, null);
  clients.push(c);
  return c.client;
}
const challengeOf = async (client: ReturnType<typeof raw>) => (await client.account!.challenge!.query()) as PowChallenge;
const register = (client: ReturnType<typeof raw>, pow?: unknown) =>
  client.account!.register!.mutate({ username: uniqueName('pow'), age: 20, ...(pow === undefined ? {} : { pow }) });

describe('registration proof-of-work', () => {
  it('refuses a registration without a solution (POW_REQUIRED), with a wrong one or a tampered challenge (POW_INVALID)', async () => {
    const t = await server();
    const client = raw(t.url);
    expect(await errorOf(register(client))).toBe('POW_REQUIRED');

    const challenge = await challengeOf(client);
    const solution = await solvePow(challenge);
    const wrongKey = { ...solution, derivedKey: solution.derivedKey.replace(/^./, (c) => (c === '0' ? '1' : '0')) };
    expect(await errorOf(register(client, { challenge, solution: wrongKey }))).toBe('POW_INVALID');
    // Easier parameters under the old signature.
    const tampered = { ...challenge, parameters: { ...challenge.parameters, cost: 1 } };
    expect(await errorOf(register(client, { challenge: tampered, solution }))).toBe('POW_INVALID');
    // Signed with another key (another server, or forged).
    const foreign = await altchaProofOfWork('another-key-'.padEnd(40, 'x')).issue({ attempts: 4, expiresAt: Date.now() + 60_000, data: challenge.parameters.data as Record<string, string | number> });
    expect(await errorOf(register(client, { challenge: foreign, solution: await solvePow(foreign) }))).toBe('POW_INVALID');
    // Malformed: a typed BAD_REQUEST from the schema.
    expect(await errorOf(register(client, { challenge, solution: { counter: -1, derivedKey: 'zz' } }))).toBe('BAD_REQUEST');
    // The right solution still works once.
    expect(await register(client, { challenge, solution })).toHaveProperty('userHash');
  });

  it('refuses an expired challenge (POW_EXPIRED) and one priced for another network (POW_INVALID)', async () => {
    const t = await server();
    const client = raw(t.url);
    const fresh = await challengeOf(client);
    // Signed by this server's key, but already past its expiry.
    const expired = await altchaProofOfWork(POW_KEY).issue({ attempts: 4, expiresAt: Date.now() - 1000, data: fresh.parameters.data as Record<string, string | number> });
    expect(await errorOf(register(client, { challenge: expired, solution: await solvePow(expired) }))).toBe('POW_EXPIRED');

    const other = connectFrom(t.url, '127.0.4.1');
    clients.push(other);
    const theirs = (await other.internals.trpc().account.challenge.query())!;
    expect(await errorOf(register(client, { challenge: theirs, solution: await solvePow(theirs) }))).toBe('POW_INVALID');
  });

  it('accepts each solution once (POW_REPLAYED), also on another server sharing the Redis rate limiter store', async () => {
    const redis = { OMECHAT_RATE_LIMIT_STORE: 'redis', OMECHAT_REDIS_URL: process.env.OMECHAT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' };
    const [one, two] = [await server(redis), await server(redis)];
    const client = raw(one.url);
    const challenge = await challengeOf(client);
    const proof = { challenge, solution: await solvePow(challenge) };
    expect(await register(client, proof)).toHaveProperty('userHash');
    expect(await errorOf(register(client, proof))).toBe('POW_REPLAYED');
    expect(await errorOf(register(raw(two.url), proof))).toBe('POW_REPLAYED');
  });

  it('raises the difficulty for a network that registers a lot, and overall, by the configured factor', async () => {
    const t = await server({ OMECHAT_POW_HOT_PER_NETWORK: '2/600', OMECHAT_POW_HOT_OVERALL: '3/600', OMECHAT_POW_HOT_FACTOR: '8' });
    const busy = connectFrom(t.url, '127.0.5.1');
    const quiet = connectFrom(t.url, '127.0.6.1');
    clients.push(busy, quiet);
    const maxOf = async (c: typeof busy) => (await c.internals.trpc().account.challenge.query())!.parameters.data!.max;
    expect(await maxOf(busy)).toBe(40);
    for (let i = 0; i < 2; i++) await busy.account.register({ username: uniqueName('busy'), age: 20 });
    expect(await maxOf(busy)).toBe(320);
    expect(await maxOf(quiet)).toBe(40);
    await quiet.account.register({ username: uniqueName('quiet'), age: 20 });
    // Three registrations overall: hot everywhere; the busy network pays both factors.
    expect(await maxOf(quiet)).toBe(320);
    expect(await maxOf(busy)).toBe(2560);
  });

  it('limits challenges per network (each costs the server a key derivation) with a typed RATE_LIMITED', async () => {
    const t = await server({ OMECHAT_RATE_POW_CHALLENGES_PER_NETWORK: '2/60' });
    const client = raw(t.url);
    await challengeOf(client);
    await challengeOf(client);
    expect(await errorOf(client.account!.challenge!.query())).toBe('RATE_LIMITED');
    const elsewhere = connectFrom(t.url, '127.0.7.1');
    clients.push(elsewhere);
    expect(await elsewhere.internals.trpc().account.challenge.query()).not.toBeNull();
  });

  it('is solved by the SDK off the main thread, reporting progress, and can be switched off', async () => {
    const t = await server({ OMECHAT_POW_DIFFICULTY: '600' });
    const client = connectFrom(t.url);
    clients.push(client);
    const progress: PowProgress[] = [];
    // The main thread stays free while the worker solves: timers keep firing.
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    const result = await client.account.register({ username: uniqueName('sdk'), age: 30 }, { onProgress: (p) => progress.push(p) });
    clearInterval(ticker);
    expect(result).toHaveProperty('secret');
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toMatchObject({ max: 600, fraction: 1 });
    expect(progress.map((p) => p.fraction)).toEqual([...progress.map((p) => p.fraction)].sort((a, b) => a - b));
    expect(ticks).toBeGreaterThan(0);

    const off = await server({ OMECHAT_POW_DIFFICULTY: '0' });
    const plain = raw(off.url);
    expect(await plain.account!.challenge!.query()).toBeNull();
    expect(await register(plain)).toHaveProperty('userHash');
  });
});
