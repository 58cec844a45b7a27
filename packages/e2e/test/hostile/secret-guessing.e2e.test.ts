import { afterEach, describe, expect, it } from 'vitest';
import { signUpFrom, startTestServer, type TestServer } from '../harness.js';
import { BYSTANDER_P99_MS, bystanders, codeOfFrame, rawSocket, request, signedInSocket } from './attack-harness.js';

/**
 * Attack: secret checks run argon2, the dearest thing a client can ask for. Before: one frame
 * of 200 `account.login` calls ran 200 argon2 hashes (the per-network limit of 50 counted
 * failures only after hashing), three 150-call frames ran 450 (9.5 s of hashing), and an
 * unrelated `message.send` waited 9.2 s for its ack, since the WAL fsync shares libuv's
 * thread pool with argon2; 150 `account.delete` calls with a wrong secret ran 150 hashes.
 * Now a check is counted before it hashes (per network: 4 at once, 100 per 15 minutes by
 * default), and argon2 runs at most 2 at a time, leaving the pool to the commit path.
 */
let t: TestServer;
afterEach(async () => {
  await t.destroy();
});

/** Counts the argon2 runs of the real hasher (it still hashes). */
function countHashes(server: TestServer) {
  const hasher = server.core.deps.hasher;
  const counts = { runs: 0 };
  const { hash, verify } = hasher;
  hasher.hash = (secret) => (counts.runs++, hash(secret));
  hasher.verify = (stored, secret) => (counts.runs++, verify(stored, secret));
  return counts;
}

const LIMITS = {
  OMECHAT_RATE_SECRET_CHECKS_PER_NETWORK: '50/900',
  OMECHAT_SECRET_CHECKS_IN_FLIGHT_PER_NETWORK: '4',
  OMECHAT_RATE_LOGIN_FAILURES_PER_NETWORK: '50/900/900',
};

describe('secret guessing', () => {
  it('a frame of 200 logins runs at most 4 hashes; frames after it at most the network budget; others keep chatting', async () => {
    t = await startTestServer(LIMITS);
    const chat = await bystanders(t);
    const hashes = countHashes(t);
    const attacker = rawSocket(t.url, { localAddress: '127.0.1.1' });
    await attacker.opened;
    const login = (i: number) => request(i, 'mutation', 'account.login', { username: `nobody_${i}`, secret: 'x'.repeat(64) });
    attacker.send(Array.from({ length: 50 }, (_, i) => login(i)));
    // One frame holds at most OMECHAT_MAX_BATCH (50) calls: the attacker sends four at once.
    for (let f = 1; f < 4; f++) attacker.send(Array.from({ length: 50 }, (_, i) => login(f * 50 + i)));
    const answers = await attacker.next(200);
    expect(hashes.runs).toBeLessThanOrEqual(4 * 4);
    const codes = answers.map(codeOfFrame);
    expect(codes.filter((c) => c === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(200 - 16);
    expect(codes.every((c) => c === 'RATE_LIMITED' || c === 'INVALID_CREDENTIALS')).toBe(true);
    await chat.acks(5);

    // Patient guessing, one at a time: the network's budget of checks ends it.
    for (let i = 0; i < 80; i++) {
      attacker.send(login(1000 + i));
      await attacker.next(201 + i);
    }
    // The network's 50 checks, plus the one decoy hash that unknown usernames are checked against.
    expect(hashes.runs).toBeLessThanOrEqual(50 + 1);
    expect(codeOfFrame(attacker.frames.at(-1))).toBe('RATE_LIMITED');
    const { p99 } = await chat.finish();
    expect(p99).toBeLessThan(BYSTANDER_P99_MS);
  });

  it('a right secret gives its check back; wrong ones still use up the network budget', async () => {
    t = await startTestServer({ ...LIMITS, OMECHAT_RATE_SECRET_CHECKS_PER_NETWORK: '5/900' });
    const { username, secret, client } = await signUpFrom(t.url, '127.0.1.3');
    await client.close();
    const socket = rawSocket(t.url, { localAddress: '127.0.1.3' });
    await socket.opened;
    const login = (id: number, withSecret: string) => {
      socket.send(request(id, 'mutation', 'account.login', { username, secret: withSecret }));
      return socket.next(id).then((frames) => frames[id - 1]);
    };
    // Twice the budget of sign-ins with the right secret: none is refused.
    for (let id = 1; id <= 10; id++) expect(await login(id, secret)).toMatchObject({ result: { data: { clientHash: expect.any(String) } } });
    const guesses: unknown[] = [];
    for (let id = 11; id <= 16; id++) guesses.push(codeOfFrame(await login(id, 'z'.repeat(64))));
    expect(guesses).toEqual([...Array(5).fill('INVALID_CREDENTIALS'), 'RATE_LIMITED']);
  });

  it('a 1,000-call frame of secret-checking mutations runs no hash; a 50-call one at most the in-flight cap', async () => {
    t = await startTestServer(LIMITS);
    const { credentials, client, username, secret } = await signUpFrom(t.url, '127.0.1.4');
    const { clientHash: other } = await client.account.login({ username, secret }); // a second device
    await client.close();
    const hashes = countHashes(t);
    const calls = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        i % 2
          ? request(i, 'mutation', 'account.rotateSecret', { secret: 'y'.repeat(64) })
          : request(i, 'mutation', 'clients.revoke', { clientHash: other, secret: 'y'.repeat(64) }),
      );
    const flood = signedInSocket(t.url, credentials, '127.0.1.4');
    await flood.opened;
    flood.send(calls(1000));
    expect(await flood.closed).toBe(4002);
    expect(hashes.runs).toBe(0);

    const batch = signedInSocket(t.url, credentials, '127.0.1.4');
    await batch.opened;
    batch.send(calls(50));
    const codes = (await batch.next(50)).map(codeOfFrame);
    expect(hashes.runs).toBeLessThanOrEqual(4);
    expect(codes.filter((c) => c === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(46);
    expect(codes.every((c) => c === 'RATE_LIMITED' || c === 'INVALID_CREDENTIALS')).toBe(true);
  });

  it('account.delete with a wrong secret is limited like a login', async () => {
    t = await startTestServer(LIMITS);
    const { credentials, client } = await signUpFrom(t.url, '127.0.1.2');
    await client.close();
    const hashes = countHashes(t);
    const attacker = signedInSocket(t.url, credentials, '127.0.1.2');
    await attacker.opened;
    attacker.send(Array.from({ length: 50 }, (_, i) => request(i, 'mutation', 'account.delete', { secret: 'y'.repeat(64) })));
    const codes = (await attacker.next(50)).map(codeOfFrame);
    expect(hashes.runs).toBeLessThanOrEqual(4);
    expect(codes.filter((c) => c === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(46);
    expect(codes.every((c) => c === 'RATE_LIMITED' || c === 'INVALID_CREDENTIALS')).toBe(true);
  });
});
