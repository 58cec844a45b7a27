import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { MAX_KEM_PREKEYS_PER_UPLOAD, MAX_ONE_TIME_KEM_PREKEYS } from '@omechat/protocol';
import { E2EDevice } from '@omechat/sdk/testing';
import { matchedPair, signUp, startTestServer, type TestServer } from './harness.js';
import { call, errorOf, rawClient } from './raw-client.js';

/**
 * The key directory's E2E v2 fields (KEM prekeys) under wrong, missing, oversized,
 * unauthorised and batched input: typed error codes, limits held, each one-time KEM prekey
 * handed out at most once.
 */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    // One frame of 1,000 calls is the input the limits are checked against: the transport's
    // batch and in-flight caps (50 and 64 by default) must not stop it first.
    OMECHAT_MAX_BATCH: '1000',
    OMECHAT_MAX_CALLS_IN_FLIGHT: '1000',
    OMECHAT_RATE_KEY_BUNDLES: '20/3600', // the default
  });
});
afterAll(async () => {
  await t.destroy();
});

/** A valid v2 upload for a fresh device of the signed-in user. */
function upload(userHash: string, clientHash: string, kemCount = 0) {
  const device = E2EDevice.create({ userHash, clientHash });
  return { device, input: { ...device.publicKeys(), oneTimePrekeys: [], oneTimeKemPrekeys: device.generateOneTimeKemPrekeys(kemCount) } };
}

/** A bare authenticated socket: sends one frame, collects one answer per request id. */
async function frame(credentials: object, requests: { method: 'query' | 'mutation'; path: string; input: unknown }[]) {
  const ws = new WebSocket(`${t.url}?connectionParams=1`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ method: 'connectionParams', data: credentials }));
  const answers = new Map<number, { result?: { data: unknown }; error?: { data?: { omechatCode?: string } } }>();
  const done = new Promise<void>((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      const parsed = JSON.parse(data.toString()) as unknown;
      for (const one of Array.isArray(parsed) ? parsed : [parsed]) answers.set((one as { id: number }).id, one as never);
      if (answers.size === requests.length) resolve();
    });
    ws.once('close', (code) => reject(new Error(`socket closed (${code}) after ${answers.size} answers`)));
  });
  ws.send(JSON.stringify(requests.map((r, id) => ({ id, method: r.method, params: { path: r.path, input: r.input } }))));
  await done;
  ws.close();
  return requests.map((_, id) => answers.get(id)!);
}

describe('keys: E2E v2 input', () => {
  it('answers wrong, missing and oversized KEM prekeys with BAD_REQUEST or PAYLOAD_TOO_LARGE', async () => {
    const user = await signUp(t.url);
    await user.client.close();
    const raw = rawClient(t.url, user.credentials);
    const { input, device } = upload(user.userHash, user.credentials.clientHash, 1);
    const kem = input.lastResortKemPrekey!;
    const cases: [unknown, string][] = [
      [{ ...input, lastResortKemPrekey: { ...kem, pub: kem.pub.slice(1) } }, 'BAD_REQUEST'],
      [{ ...input, lastResortKemPrekey: { ...kem, pub: `+${kem.pub.slice(1)}` } }, 'BAD_REQUEST'],
      [{ ...input, lastResortKemPrekey: { ...kem, signature: kem.signature.slice(1) } }, 'BAD_REQUEST'],
      [{ ...input, lastResortKemPrekey: { ...kem, id: -1 } }, 'BAD_REQUEST'],
      [{ ...input, lastResortKemPrekey: { ...kem, id: 1.5 } }, 'BAD_REQUEST'],
      [{ ...input, lastResortKemPrekey: { ...kem, lastResort: true } }, 'BAD_REQUEST'],
      [{ ...input, lastResortKemPrekey: 'kem' }, 'BAD_REQUEST'],
      [{ ...input, oneTimeKemPrekeys: {} }, 'BAD_REQUEST'],
      [{ ...input, lastResortKemPrekey: { id: kem.id, pub: kem.pub } }, 'BAD_REQUEST'],
      [{ ...input, oneTimeKemPrekeys: [{ id: 1, signature: kem.signature }] }, 'BAD_REQUEST'],
      [{ ...input, lastResortKemPrekey: { ...kem, pub: 'A'.repeat(100_000) } }, 'PAYLOAD_TOO_LARGE'],
      [{ ...input, oneTimeKemPrekeys: device.generateOneTimeKemPrekeys(MAX_KEM_PREKEYS_PER_UPLOAD + 1) }, 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [bad, expected] of cases) expect(await errorOf(call(raw.client, 'keys.upload', 'mutate', bad))).toBe(expected);
    // None of it was stored.
    expect(await call(raw.client, 'keys.status', 'query', undefined)).toEqual({
      hasIdentity: false,
      oneTimePrekeys: 0,
      oneTimeKemPrekeys: 0,
      hasLastResortKemPrekey: false,
    });
    await raw.close();
  });

  it('refuses KEM uploads and bundles to the unauthorised, and bundles to strangers', async () => {
    const user = await signUp(t.url);
    const stranger = await signUp(t.url);
    await Promise.all([user.client.close(), stranger.client.close()]);
    const anonymous = rawClient(t.url, null);
    const { input } = upload(user.userHash, user.credentials.clientHash, 2);
    expect(await errorOf(call(anonymous.client, 'keys.upload', 'mutate', input))).toBe('UNAUTHORIZED');
    expect(await errorOf(call(anonymous.client, 'keys.status', 'query', undefined))).toBe('UNAUTHORIZED');
    await anonymous.close();
    const raw = rawClient(t.url, stranger.credentials);
    expect(await errorOf(call(raw.client, 'keys.bundles', 'mutate', { userHash: user.userHash }))).toBe('FORBIDDEN');
    await raw.close();
  });

  it('keeps at most the limit of one-time KEM prekeys, and keeps the last-resort one', async () => {
    const user = await signUp(t.url);
    await user.client.close();
    const raw = rawClient(t.url, user.credentials);
    const { input, device } = upload(user.userHash, user.credentials.clientHash, MAX_KEM_PREKEYS_PER_UPLOAD);
    expect(await call(raw.client, 'keys.upload', 'mutate', input)).toMatchObject({ oneTimeKemPrekeys: MAX_KEM_PREKEYS_PER_UPLOAD, hasLastResortKemPrekey: true });
    const more = { ...input, lastResortKemPrekey: undefined, oneTimeKemPrekeys: device.generateOneTimeKemPrekeys(10) };
    expect(await call(raw.client, 'keys.upload', 'mutate', more)).toMatchObject({ oneTimeKemPrekeys: MAX_ONE_TIME_KEM_PREKEYS, hasLastResortKemPrekey: true });
    await raw.close();

    // The same in one frame from a fresh device: 100 uploads of one KEM prekey each (about 190 KB).
    const other = await signUp(t.url);
    await other.client.close();
    const fresh = upload(other.userHash, other.credentials.clientHash);
    const requests = fresh.device.generateOneTimeKemPrekeys(100).map((prekey) => ({
      method: 'mutation' as const,
      path: 'keys.upload',
      input: { identity: fresh.input.identity, signedPrekey: fresh.input.signedPrekey, oneTimeKemPrekeys: [prekey] },
    }));
    const answers = await frame(other.credentials, requests);
    const counts = answers.map((a) => (a.result!.data as { oneTimeKemPrekeys: number }).oneTimeKemPrekeys);
    expect(Math.max(...counts)).toBe(MAX_ONE_TIME_KEM_PREKEYS);
    const after = await frame(other.credentials, [{ method: 'query', path: 'keys.status', input: undefined }]);
    expect(after[0]!.result!.data).toMatchObject({ oneTimeKemPrekeys: MAX_ONE_TIME_KEM_PREKEYS, hasLastResortKemPrekey: false });
  });

  it('holds for 1000 calls in one frame: typed answers, rate-limited bundles, no one-time KEM prekey handed out twice', async () => {
    const { a, b } = await matchedPair(t.url);
    await Promise.all([a.client.encryptionReady(), b.client.encryptionReady()]);
    const status = await frame(b.credentials, Array.from({ length: 1000 }, () => ({ method: 'query' as const, path: 'keys.status', input: undefined })));
    const held = (status[0]!.result!.data as { oneTimeKemPrekeys: number }).oneTimeKemPrekeys;
    expect(held).toBeGreaterThan(0);
    expect(status.every((s) => s.result !== undefined)).toBe(true);

    const wrong = await frame(b.credentials, Array.from({ length: 1000 }, (_, i) => ({
      method: 'mutation' as const,
      path: 'keys.upload',
      // As small as a wrong upload gets, so 1000 fit in one frame.
      input: { lastResortKemPrekey: { id: i, pub: 'short' } },
    })));
    expect(new Set(wrong.map((w) => w.error?.data?.omechatCode))).toEqual(new Set(['BAD_REQUEST']));

    // 1,000 bundle requests in one frame: the rate limit (20 an hour per device and addressed
    // user) answers the rest with RATE_LIMITED, and no one-time KEM prekey goes out twice.
    const bundles = await frame(a.credentials, Array.from({ length: 1000 }, () => ({ method: 'mutation' as const, path: 'keys.bundles', input: { userHash: b.userHash } })));
    const served = bundles.filter((r) => r.result !== undefined);
    expect(served.length).toBeGreaterThan(0);
    expect(served.length).toBeLessThanOrEqual(20);
    expect(new Set(bundles.filter((r) => !r.result).map((r) => r.error?.data?.omechatCode))).toEqual(new Set(['RATE_LIMITED']));
    const kemIds = served.map((r) => {
      const devices = (r.result!.data as { devices: { bundle: { kemPrekey?: { id: number } } }[] }).devices;
      return devices[0]!.bundle.kemPrekey!.id;
    });
    expect(new Set(kemIds).size).toBe(kemIds.length);
    const after = await frame(b.credentials, [{ method: 'query', path: 'keys.status', input: undefined }]);
    expect(after[0]!.result!.data).toMatchObject({ oneTimeKemPrekeys: held - kemIds.length, hasLastResortKemPrekey: true });
  });
});
