import { afterEach, describe, expect, it } from 'vitest';
import { connectFrom, signUpFrom, startTestServer, waitFor, type TestServer } from '../harness.js';
import { BYSTANDER_P99_MS, bystanders, codeOfFrame, request, signedInSocket } from './attack-harness.js';

/**
 * Issue 15, point 10: a stolen device token took the account. With one device's
 * clientHash and accessToken, the thief rotated the secret without knowing it (the owner's
 * stopped working) and revoked the owner's 15 other devices (4003). Now rotating needs the
 * current secret and revoking another device needs it too; a device may still revoke itself.
 */
let t: TestServer;
afterEach(async () => {
  await t.destroy();
});

const WRONG_SECRET = 'x'.repeat(64);

describe('a stolen device token', () => {
  it("cannot rotate the secret or sign the owner's devices out; it can only revoke itself", async () => {
    t = await startTestServer();
    const owner = await signUpFrom(t.url, '127.0.0.2');
    // The owner's 16 devices: the first from signUp, 15 more; the thief copied the last one's token.
    const devices = [owner.credentials];
    for (let i = 0; i < 15; i++) {
      const device = connectFrom(t.url, '127.0.0.2');
      const { clientHash, accessToken } = await device.account.login({ username: owner.username, secret: owner.secret });
      devices.push({ clientHash, accessToken });
      await device.close();
    }
    const stolen = devices.at(-1)!;
    const others = devices.slice(0, -1);

    // The attack, from another network, in one frame: rotate the secret (without it, with a
    // wrong one), and revoke every other device (without the secret, with a wrong one).
    const watch = await bystanders(t);
    const thief = signedInSocket(t.url, stolen, '127.0.1.2');
    expect(await thief.opened).toBe('open');
    const calls = [
      request(1, 'mutation', 'account.rotateSecret', {}),
      request(2, 'mutation', 'account.rotateSecret', { secret: WRONG_SECRET }),
      ...others.map((d, i) => request(10 + i, 'mutation', 'clients.revoke', { clientHash: d.clientHash })),
      ...others.map((d, i) => request(100 + i, 'mutation', 'clients.revoke', { clientHash: d.clientHash, secret: WRONG_SECRET })),
    ];
    thief.send(calls);
    const answers = await thief.next(calls.length);
    const codes = answers.map((f) => codeOfFrame(f) ?? 'ok');
    expect(codes.filter((c) => c === 'ok')).toHaveLength(0);
    expect(codes.filter((c) => c === 'BAD_REQUEST')).toHaveLength(1); // no secret at all
    expect(codes.filter((c) => c === 'INVALID_CREDENTIALS')).toHaveLength(1 + 2 * others.length);
    await watch.acks(5);
    expect((await watch.finish()).p99).toBeLessThan(BYSTANDER_P99_MS);

    // Nothing changed: all 16 devices are still there (the secret still works: see below).
    const owners = connectFrom(t.url, '127.0.0.2', owner.credentials);
    expect(await owners.clients.list()).toHaveLength(16);

    // The stolen device may sign itself out: the owner's way to end a theft they can see.
    thief.send(request(999, 'mutation', 'clients.revoke', { clientHash: stolen.clientHash }));
    const [last] = (await thief.next(calls.length + 1)).slice(-1);
    expect(codeOfFrame(last)).toBeUndefined();
    expect(await thief.closed).toBe(4003);
    expect(await owners.clients.list()).toHaveLength(15);

    // The owner, with the secret the thief could not change, revokes another device and rotates it.
    await owners.clients.revoke({ clientHash: others.at(-1)!.clientHash, secret: owner.secret });
    const { secret: fresh } = await owners.account.rotateSecret({ secret: owner.secret });
    expect(await owners.clients.list()).toHaveLength(14);
    const check = connectFrom(t.url, '127.0.0.2');
    await check.account.login({ username: owner.username, secret: fresh });
    await waitFor(() => check.state === 'connected', 'signed in with the new secret');
    await Promise.all([owners.close(), check.close(), owner.client.close()]);
  });
});
