/* eslint-disable @typescript-eslint/no-unsafe-return -- the values come from the CLI's JSON output */
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliUser, exited, jsonLines, signUp, startTestServer, uniqueName, waitFor, type Json } from './harness.js';

/** The `omechat` binary as a child process against a real server in this process. */
let server: Awaited<ReturnType<typeof startTestServer>>;
const users: CliUser[] = [];
const user = () => {
  const u = new CliUser(server.url);
  users.push(u);
  return u;
};

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  for (const u of users) u.cleanup();
  await server.close();
});

/** Two signed-in users matched through two concurrent `match` runs. */
async function matchedPair() {
  const [alice, bob] = [user(), user()];
  const aliceName = uniqueName('alice');
  const bobName = uniqueName('bob');
  await Promise.all([signUp(alice, aliceName, 30), signUp(bob, bobName, 31)]);
  const [a, b] = await Promise.all([alice.json(['match', '--timeout', '20']), bob.json(['match', '--timeout', '20'])]);
  return { alice, bob, aliceName, bobName, a, b, chatId: a.chatId as string };
}

describe('accounts', () => {
  it('registers and is signed in at once, logs out, logs in again, and shows the account and its devices as JSON', async () => {
    const cli = user();
    const username = uniqueName('sam');
    const registered = await cli.json(['register', '--username', username, '--age', '19']);
    expect(registered).toMatchObject({ username, secret: expect.stringMatching(/^[A-Za-z0-9_-]{64}$/) });
    expect(await cli.json(['me'])).toMatchObject({ username, clientHash: registered.clientHash });
    expect(await cli.json(['logout'])).toEqual({ loggedOut: true, revoked: true });

    const loggedIn = await cli.json(['login', '--username', username, `--secret=${registered.secret}`, '--device-name', 'laptop']);
    expect(loggedIn).toMatchObject({ username, userHash: registered.userHash });
    expect(await cli.json(['me'])).toMatchObject({ username, age: 19, userHash: registered.userHash, clientHash: loggedIn.clientHash });
    const { devices } = await cli.json(['devices']);
    expect(devices).toEqual([expect.objectContaining({ clientHash: loggedIn.clientHash, deviceName: 'laptop', current: true })]);

    // Credentials and keys are for the owner's eyes only; the secret is not kept at all.
    for (const file of ['credentials.json', 'keys.json']) expect(statSync(join(cli.home, file)).mode & 0o777, file).toBe(0o600);
    const saved = JSON.parse(readFileSync(join(cli.home, 'credentials.json'), 'utf8'));
    expect(saved).toEqual({ clientHash: loggedIn.clientHash, accessToken: expect.any(String), userHash: registered.userHash, username });
    for (const file of readdirSync(cli.home)) expect(readFileSync(join(cli.home, file), 'utf8')).not.toContain(registered.secret);
  });

  it('exits 64 on usage errors, with a USAGE error object under --json', async () => {
    const cli = user();
    for (const args of [[], ['frobnicate'], ['register', '--username', 'x'], ['register', '--username', 'xyz', '--age', 'old'], ['me', 'extra'], ['me', '--bogus']]) {
      const result = await cli.run([...args, '--json']);
      expect(result.code, args.join(' ')).toBe(64);
      expect(result.lines).toEqual([{ error: { code: 'USAGE', message: expect.any(String) } }]);
    }
    const plain = await cli.run(['send']);
    expect(plain.code).toBe(64);
    expect(plain.stderr).toContain('usage: omechat send');
  });

  it('says at once, with a hint, when the server cannot be reached (not after a 10 s timeout)', async () => {
    const alice = user();
    // Saved credentials are all `me` needs before it connects (no sign-up: this file's
    // registrations stay under the per-network limit).
    writeFileSync(join(alice.home, 'credentials.json'), JSON.stringify({ clientHash: 'c'.repeat(22), accessToken: 'a'.repeat(43), userHash: 'u'.repeat(22), username: 'alice' }));
    const down = 'ws://127.0.0.1:9/trpc'; // nothing listens on the discard port
    for (const args of [['me'], ['chats'], ['register', '--username', 'nobody_here', '--age', '30']]) {
      if (args[0] === 'register') rmSync(join(alice.home, 'credentials.json'));
      const started = Date.now();
      const result = await alice.run([...args, '--server', down]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`Cannot reach the server at ${down}: is it running?`);
      expect(Date.now() - started).toBeLessThan(5_000);
    }
  });

  it('reports a wrong secret as INVALID_CREDENTIALS with exit 1, and saves nothing', async () => {
    const cli = user();
    const username = uniqueName('eve');
    await user().json(['register', '--username', username, '--age', '40']);
    const result = await cli.run(['login', '--username', username, '--secret', 'x'.repeat(64), '--json']);
    expect(result.code).toBe(1);
    expect(result.lines).toEqual([{ error: { code: 'INVALID_CREDENTIALS', message: expect.any(String) } }]);
    const me = await cli.run(['me', '--json']);
    expect(me.code).toBe(1);
    expect(me.lines[0].error.code).toBe('NOT_LOGGED_IN');
  });

  it('logs out: the device is revoked on the server and its local state is gone', async () => {
    const [first, second] = [user(), user()];
    const username = uniqueName('pat');
    const secret = await signUp(first, username, 25);
    await second.json(['login', '--username', username, `--secret=${secret}`]);
    const gone = (await first.json(['me'])).clientHash;

    expect(await first.json(['logout'])).toEqual({ loggedOut: true, revoked: true });
    expect(readdirSync(first.home)).toEqual([]);
    const { devices } = await second.json(['devices']);
    expect(devices.map((d: Json) => d.clientHash)).not.toContain(gone);
  });

  it('revokes another device and rotates the secret only with the current secret', async () => {
    const [first, second] = [user(), user()];
    const username = uniqueName('ann');
    const secret = await signUp(first, username, 25);
    await second.json(['login', '--username', username, `--secret=${secret}`]);
    const other = (await second.json(['me'])).clientHash;

    const wrong = await first.run(['revoke', other, '--secret', 'x'.repeat(64), '--json']);
    expect(wrong.lines).toEqual([{ error: { code: 'INVALID_CREDENTIALS', message: expect.any(String) } }]);
    expect(await first.json(['revoke', other, `--secret=${secret}`])).toEqual({ revoked: other });
    const { secret: fresh } = await first.json(['rotate-secret', `--secret=${secret}`]);
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect((await first.run(['rotate-secret', `--secret=${secret}`, '--json'])).lines[0].error.code).toBe('INVALID_CREDENTIALS');
    // IDs and secrets are URL-safe base64: one in 64 starts with '-', and is still an argument.
    const dashed = await first.run(['revoke', `-${other.slice(1)}`, '--secret', `-${'x'.repeat(63)}`, '--json']);
    expect(dashed.lines).toEqual([{ error: { code: 'INVALID_CREDENTIALS', message: expect.any(String) } }]);
  });
});

describe('chatting', () => {
  it('matches two concurrent `match` runs into one chat; a sent message reaches the other decrypted', async () => {
    const { alice, bob, aliceName, bobName, a, b, chatId } = await matchedPair();
    expect(b.chatId).toBe(chatId);
    expect(a.peer).toMatchObject({ username: bobName, age: 31 });
    expect(b.peer).toMatchObject({ username: aliceName, age: 30 });

    // Sent while bob is offline: his next `listen` picks it up from his saved cursor.
    expect(await alice.json(['send', chatId, 'hello from alice'])).toMatchObject({ chatId, seq: 1 });
    const listening = bob.spawn(['listen', '--json']);
    const events = jsonLines(listening);
    await waitFor(() => events.some((e) => e.type === 'message'), 'the first message');
    // And live, while he listens.
    expect(await alice.json(['send', chatId, 'are you there?'])).toMatchObject({ seq: 2 });
    await waitFor(() => events.filter((e) => e.type === 'message').length === 2, 'the second message');
    listening.kill('SIGINT');
    expect(await exited(listening), 'SIGINT stops listen cleanly').toBe(0);
    const messages = events.filter((e) => e.type === 'message');
    expect(messages.map((m) => m.text)).toEqual(['hello from alice', 'are you there?']);
    expect(messages[0]).toMatchObject({ chatId, seq: 1, own: false, from: b.peer.userHash });

    // History shows the text on both sides: each device keeps what it has decrypted or sent.
    const bobHistory = await bob.json(['history', chatId]);
    expect(bobHistory.messages.map((m: Json) => [m.seq, m.own, m.text])).toEqual([
      [1, false, 'hello from alice'],
      [2, false, 'are you there?'],
    ]);
    expect((await alice.json(['history', chatId, '--limit', '1'])).messages).toEqual([expect.objectContaining({ seq: 2, own: true, text: 'are you there?' })]);

    // A restarted listen resumes after what it has seen: no duplicates, nothing lost.
    await alice.json(['send', chatId, 'third']);
    const again = bob.spawn(['listen', '--json']);
    const later = jsonLines(again);
    await waitFor(() => later.some((e) => e.type === 'message'), 'the message sent while bob was away');
    // A marker sent now arrives after any duplicate the resume could still produce (ordered stream).
    await alice.json(['send', chatId, 'marker']);
    await waitFor(() => later.some((e) => e.type === 'message' && e.text === 'marker'), 'the marker');
    again.kill('SIGTERM');
    expect(await exited(again)).toBe(0);
    expect(later.filter((e) => e.type === 'message').map((m) => m.text)).toEqual(['third', 'marker']);
  });

  it('lets one process at a time use a device', async () => {
    const { bob, chatId } = await matchedPair();
    const listening = bob.spawn(['listen', '--json']);
    jsonLines(listening);
    await waitFor(() => readdirSync(bob.home).includes('lock'), 'listen to take the device');
    const busy = await bob.run(['send', chatId, 'hi', '--json']);
    expect(busy.code).toBe(1);
    expect(busy.lines[0].error.code).toBe('DEVICE_BUSY');
    expect((await bob.json(['chats'])).chats, 'commands that do not touch keys still run').toHaveLength(1);
    listening.kill('SIGINT');
    await exited(listening);
    expect(readdirSync(bob.home)).not.toContain('lock');
  });

  it('talks in interactive `chat` mode: lines are sent, incoming messages printed, /leave ends the chat', async () => {
    const [alice, bob] = [user(), user()];
    await Promise.all([signUp(alice, uniqueName('ann'), 22), signUp(bob, uniqueName('ben'), 23)]);
    const annChat = alice.spawn(['chat', '--json', '--timeout', '20']);
    const benChat = bob.spawn(['chat', '--json', '--timeout', '20']);
    const ann = jsonLines(annChat);
    const ben = jsonLines(benChat);
    await waitFor(() => ann.some((e) => e.type === 'match.found') && ben.some((e) => e.type === 'match.found'), 'both to be matched');
    const chatId = ann.find((e) => e.type === 'match.found').chatId;
    expect(ben.find((e) => e.type === 'match.found').chatId).toBe(chatId);

    annChat.stdin.write('hi ben\n');
    await waitFor(() => ben.some((e) => e.type === 'message' && e.text === 'hi ben'), 'ben to read ann');
    benChat.stdin.write('hi ann, bye\n/safety\n/leave\n');
    await waitFor(() => ann.some((e) => e.type === 'message' && e.text === 'hi ann, bye'), 'ann to read ben');
    await waitFor(() => ann.some((e) => e.type === 'chat.ended'), 'ann to see the chat end');
    await waitFor(() => ben.some((e) => e.type === 'safetyCode'), 'the safety code');
    expect(ben.find((e) => e.type === 'safetyCode').code).toMatch(/^[\d ]+$/);

    // End of input is a clean exit.
    annChat.stdin.end();
    benChat.stdin.end();
    expect(await exited(annChat)).toBe(0);
    expect(await exited(benChat)).toBe(0);
    expect((await alice.json(['chats'])).chats).toEqual([expect.objectContaining({ chatId, state: 'ended' })]);
  });
});
