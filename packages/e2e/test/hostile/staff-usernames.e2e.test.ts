import { afterEach, describe, expect, it } from 'vitest';
import { connectFrom, failure, signUpFrom, startTestServer, type TestServer } from '../harness.js';
import { ADMIN_TOKEN } from '../safety-harness.js';
import { codeOfFrame, request, signedInSocket } from './attack-harness.js';

/**
 * Issue 15, the lower items: anyone could register `admin`, `support` or `OmeChat_Team` and
 * talk to strangers as staff; and `safety.block` answered NOT_FOUND for a userHash with no
 * account, so it told anyone which hashes exist.
 */
let t: TestServer;
afterEach(async () => {
  await t.destroy();
});

describe('staff-like usernames', () => {
  it('are refused with USERNAME_RESERVED, look-alikes, case and separators included; other names still register', async () => {
    t = await startTestServer({ OMECHAT_ADMIN_TOKEN: ADMIN_TOKEN });
    const client = connectFrom(t.url, '127.0.1.2');
    const staffLike = [
      'admin',
      'Administrator',
      'ADM1N',
      'a.d.m.i.n',
      'adrnin',
      'sys_admin',
      'system',
      'SYST3M',
      'support',
      'Supp0rt-Team',
      'the_support',
      'moderator',
      'M0DERAT0R',
      'mod3rator_2',
      'omechat',
      'OmeChat_Team',
      '0mech4t',
      'real-0me-chat',
    ];
    const codes = [];
    for (const username of staffLike) codes.push((await failure(client.account.register({ username, age: 30 }))).code);
    expect(codes).toEqual(staffLike.map(() => 'USERNAME_RESERVED'));
    // Nothing was created: no account holds any of those names.
    for (const username of staffLike.slice(0, 3)) {
      expect((await failure(client.account.login({ username, secret: 'x'.repeat(64) }))).code).toBe('INVALID_CREDENTIALS');
    }
    // Ordinary names, even ones that merely contain a staff word in the middle, register.
    for (const username of ['alice_19', 'badminton_fan', 'mo_derek', 'chat_omelette']) {
      await expect(client.account.register({ username, age: 30 })).resolves.toMatchObject({ userHash: expect.any(String) as string });
    }
    await client.close();
  });
});

describe('safety.block', () => {
  it('answers the same for a userHash with an account and one without', async () => {
    t = await startTestServer();
    const prober = await signUpFrom(t.url, '127.0.1.2');
    const someone = await signUpFrom(t.url, '127.0.2.2');
    const made = ['NoSuchUser_12345678901', 'AAAAAAAAAAAAAAAAAAAAAA'];
    const socket = signedInSocket(t.url, prober.credentials, '127.0.1.2');
    expect(await socket.opened).toBe('open');
    const targets = [someone.userHash, ...made];
    socket.send(targets.map((userHash, i) => request(i + 1, 'mutation', 'safety.block', { userHash })));
    // Answers come in the order the calls finish: put them back in the order they were asked.
    const answers = ((await socket.next(targets.length)) as { id: number }[]).sort((x, y) => x.id - y.id);
    expect(answers.map(codeOfFrame)).toEqual([undefined, undefined, undefined]);
    const shapes = answers.map((a) => JSON.stringify({ ...a, id: 0 }));
    expect(new Set(shapes).size).toBe(1);
    // The prober's own list shows all three: it tells them only what they did.
    expect((await prober.client.internals.trpc().safety.blocks.query()).map((b) => b.userHash).sort()).toEqual([...targets].sort());
    socket.ws.close();
    await Promise.all([prober.client.close(), someone.client.close()]);
  });
});
