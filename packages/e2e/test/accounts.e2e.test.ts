import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CLOSE_CODES } from '@omechat/protocol';
import { codeOf, connect, signUp, startTestServer, uniqueName, waitFor, type TestServer } from './harness.js';

const run = promisify(execFile);
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.destroy();
});

describe('accounts and devices', () => {
  it('registers with a 64-character secret and logs in on two devices', async () => {
    const phone = connect(t.url);
    const username = uniqueName('Alice');
    const { userHash, secret } = await phone.account.register({ username, age: 19 });
    expect(secret).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(userHash).toMatch(/^[A-Za-z0-9_-]{22}$/);

    const first = await phone.account.login({ username, secret, deviceName: 'phone' });
    const laptop = connect(t.url);
    // Usernames are case-insensitive, so the second device may type it differently.
    const second = await laptop.account.login({ username: username.toUpperCase(), secret, deviceName: 'laptop' });
    expect(second.userHash).toBe(userHash);
    expect(second.clientHash).not.toBe(first.clientHash);
    expect(second.accessToken).not.toBe(first.accessToken);

    const me = await laptop.account.me();
    expect(me).toMatchObject({ userHash, username, age: 19, clientHash: second.clientHash });
    const devices = await phone.clients.list();
    expect(devices.map((d) => d.deviceName).sort()).toEqual(['laptop', 'phone']);
    expect(devices.find((d) => d.current)?.clientHash).toBe(first.clientHash);
    await phone.close();
    await laptop.close();
  });

  it('rejects a taken username, whatever its case or width', async () => {
    const c = connect(t.url);
    const username = uniqueName('bob');
    await c.account.register({ username, age: 30 });
    expect(await codeOf(c.account.register({ username: username.toUpperCase(), age: 30 }))).toBe('USERNAME_TAKEN');
    // NFKC folds fullwidth letters to ASCII, so this is the same name too.
    const fullwidth = [...username].map((ch) => (/[a-z]/.test(ch) ? String.fromCharCode(ch.charCodeAt(0) + 0xfee0) : ch)).join('');
    expect(await codeOf(c.account.register({ username: fullwidth, age: 30 }))).toBe('USERNAME_TAKEN');
    await c.close();
  });

  it('gives the same error for a wrong username and a wrong secret', async () => {
    const { client, username } = await signUp(t.url);
    const wrongSecret = await codeOf(client.account.login({ username, secret: 'x'.repeat(64) }));
    const wrongUser = await codeOf(client.account.login({ username: uniqueName('nobody'), secret: 'x'.repeat(64) }));
    expect(wrongSecret).toBe('INVALID_CREDENTIALS');
    expect(wrongUser).toBe(wrongSecret);
    await client.close();
  });

  it('refuses every authenticated call without valid connectionParams', async () => {
    const anonymous = connect(t.url);
    expect(await codeOf(anonymous.account.me())).toBe('UNAUTHORIZED');
    expect(await codeOf(anonymous.clients.list())).toBe('UNAUTHORIZED');
    expect(await codeOf(anonymous.account.rotateSecret({ secret: 'x'.repeat(64) }))).toBe('UNAUTHORIZED');
    const forged = connect(t.url, { clientHash: 'A'.repeat(22) as never, accessToken: 'B'.repeat(43) });
    expect(await codeOf(forged.account.me())).toBe('UNAUTHORIZED');
    await anonymous.close();
    await forged.close();
  });

  it('revokes a device: its socket closes with SESSION_REVOKED and its token stops working', async () => {
    const { client: phone, username, secret } = await signUp(t.url);
    const laptop = connect(t.url);
    const creds = await laptop.account.login({ username, secret });
    await laptop.account.me();
    await phone.clients.revoke({ clientHash: creds.clientHash, secret });
    await waitFor(() => laptop.state === 'closed', 'the revoked device to be closed');
    expect(laptop.closedReason).toBe('revoked');

    const again = connect(t.url, { clientHash: creds.clientHash, accessToken: creds.accessToken });
    expect(await codeOf(again.account.me())).toBe('UNAUTHORIZED');
    expect((await phone.clients.list()).map((d) => d.clientHash)).not.toContain(creds.clientHash);
    await Promise.all([phone.close(), laptop.close(), again.close()]);
  });

  it("does not let one user revoke another user's device", async () => {
    const a = await signUp(t.url);
    const b = await signUp(t.url);
    expect(await codeOf(a.client.clients.revoke({ clientHash: b.credentials.clientHash, secret: a.secret }))).toBe('NOT_FOUND');
    expect(await b.client.account.me()).toMatchObject({ userHash: b.userHash });
    await Promise.all([a.client.close(), b.client.close()]);
  });

  it('rotates the secret: the old one stops working, the new one logs in', async () => {
    const { client, username, secret } = await signUp(t.url);
    const { secret: fresh } = await client.account.rotateSecret({ secret });
    expect(fresh).not.toBe(secret);
    const other = connect(t.url);
    expect(await codeOf(other.account.login({ username, secret }))).toBe('INVALID_CREDENTIALS');
    await other.account.login({ username, secret: fresh });
    await Promise.all([client.close(), other.close()]);
  });

  it('deletes an account with its devices; the name becomes free', async () => {
    const { client, username, secret, credentials } = await signUp(t.url);
    const second = connect(t.url);
    await second.account.login({ username, secret });
    await second.account.me();
    expect(await codeOf(client.account.delete({ secret: 'y'.repeat(64) }))).toBe('INVALID_CREDENTIALS');
    await client.account.delete({ secret });
    await waitFor(() => second.state === 'closed', 'the other device to be closed');
    const after = connect(t.url, credentials);
    expect(await codeOf(after.account.me())).toBe('UNAUTHORIZED');
    expect(after.closedReason).toBe('unauthorized');
    after.useCredentials(null);
    expect(await codeOf(after.account.login({ username, secret }))).toBe('INVALID_CREDENTIALS');
    await after.account.register({ username, age: 40 });
    await Promise.all([client.close(), second.close(), after.close()]);
  });

  it('never writes a secret or an access token into the database files or the logs', async () => {
    const secrets: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { client, secret, credentials } = await signUp(t.url);
      const { secret: rotated } = await client.account.rotateSecret({ secret });
      secrets.push(secret, rotated, credentials.accessToken);
      await client.close();
    }
    const dbFiles = readdirSync(t.dataDir).map((f) => readFileSync(join(t.dataDir, f)).toString('latin1'));
    expect(dbFiles.length).toBeGreaterThan(0);
    const logs = t.logs.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const s of secrets) {
      for (const file of dbFiles) expect(file.includes(s)).toBe(false);
      expect(logs.includes(s)).toBe(false);
    }
  });
});

describe('import-seed', () => {
  it('imports the original format; old secrets and tokens work; bad records are reported by key', async () => {
    const seed = await startTestServer();
    await seed.close(); // the importer opens the database itself, as an operator would run it
    const secret = 'a'.repeat(32) + 'B'.repeat(32);
    const token = 'legacy-token_' + 'z'.repeat(30);
    const users = {
      u1_0123456789abcdef: { clients: ['c1_0123456789abcdef'], age: 16, secret, username: 'seeded_sam' },
      u2_0123456789abcdef: { clients: [], age: 9, secret, username: 'too_young' },
      'bad key!': { clients: [], age: 20, secret, username: 'badkey' },
    };
    const clients = {
      c1_0123456789abcdef: { owner: 'u1_0123456789abcdef', access_token: token },
      c2_0123456789abcdef: { owner: 'u2_0123456789abcdef', access_token: token },
    };
    const usersFile = join(seed.dataDir, 'user.json');
    const clientsFile = join(seed.dataDir, 'client.json');
    // An object literal's __proto__ sets the prototype, so build that hostile key as JSON text.
    writeFileSync(usersFile, JSON.stringify(users).slice(0, -1) + ',"__proto__":{"clients":[],"age":20,"secret":"' + secret + '","username":"proto"}}');
    writeFileSync(clientsFile, JSON.stringify(clients));
    const bin = join(import.meta.dirname, '../../server/bin/omechat-server.js');
    const { stdout, stderr } = await run(process.execPath, [bin, 'import-seed', '--users', usersFile, '--clients', clientsFile], {
      env: { ...process.env, OMECHAT_DATA_DIR: seed.dataDir, OMECHAT_LOG_LEVEL: 'silent' },
    });
    expect(JSON.parse(stdout)).toEqual({ usersImported: 1, clientsImported: 1, skipped: 4 });
    expect(stderr).toContain('u2_0123456789abcdef');
    expect(stderr).toContain('"bad key!"');
    expect(stderr).toContain('c2_0123456789abcdef');
    expect(stderr).not.toContain(secret);
    expect(stderr).not.toContain(token);

    const restarted = await seed.restart();
    const oldDevice = connect(restarted.url, { clientHash: 'c1_0123456789abcdef' as never, accessToken: token });
    expect(await oldDevice.account.me()).toMatchObject({ username: 'seeded_sam', age: 16, clientHash: 'c1_0123456789abcdef' });
    const newDevice = connect(restarted.url);
    const login = await newDevice.account.login({ username: 'seeded_sam', secret });
    expect(login.userHash).toBe('u1_0123456789abcdef');
    const files = readdirSync(restarted.dataDir).filter((f) => f.startsWith('omechat.sqlite'));
    for (const f of files) {
      const bytes = readFileSync(join(restarted.dataDir, f)).toString('latin1');
      expect(bytes.includes(secret)).toBe(false);
      expect(bytes.includes(token)).toBe(false);
    }
    await Promise.all([oldDevice.close(), newDevice.close()]);
    await restarted.destroy();
  });
});

describe('shutdown', () => {
  it('closes sockets with SERVER_SHUTDOWN; the SDK reconnects to the restarted server and data survives', async () => {
    const s = await startTestServer();
    const { client, username, secret } = await signUp(s.url);
    const raw = new WebSocket(s.url);
    await new Promise((resolve) => raw.once('open', resolve));
    const closed = new Promise<number>((resolve) => raw.once('close', (code) => resolve(code)));
    const states: string[] = [];
    client.onStateChange((state) => states.push(state));

    const restarted = await s.restart();
    expect(await closed).toBe(CLOSE_CODES.SERVER_SHUTDOWN);
    expect(states).toContain('reconnecting');
    await waitFor(() => client.state === 'connected', 'the SDK to reconnect');
    expect(await client.account.me()).toMatchObject({ username });
    const again = connect(restarted.url);
    await again.account.login({ username, secret });
    await Promise.all([client.close(), again.close()]);
    await restarted.destroy();
  });
});
