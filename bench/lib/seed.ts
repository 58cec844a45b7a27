import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usernameKey, type ClientHash, type UserHash } from '@omechat/protocol';
import { argon2Hasher, cryptoRandom, hashToken, PostgresStorage, SqliteStorage, sqliteFile, type Storage } from '@omechat/server/internals';
import { openMany, RpcClient, type Credentials } from './rpc.ts';

export interface SeededUser {
  userHash: UserHash;
  username: string;
  age: number;
  devices: Credentials[];
}

/**
 * Creates accounts and signed-in devices straight through the server's own Storage adapter,
 * as `account.register` + `account.login` would leave them (same records, token stored as
 * its SHA-256), without paying argon2id per account: registering and logging in through
 * the API costs two argon2id runs (about 25 ms each with both cores busy), so 5,000 devices
 * would take minutes. Every account gets the same real argon2id hash of one random secret;
 * nobody logs in with it. Each write commits with fsync (synchronous=FULL), so the file is
 * built on tmpfs when /dev/shm exists and copied into `dataDir` afterwards.
 */
export async function seedAccounts(dataDir: string, users: { age: number; devices: number }[]): Promise<SeededUser[]> {
  const scratchRoot = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const scratch = mkdtempSync(join(scratchRoot, 'omechat-seed-'));
  const file = join(scratch, 'omechat.sqlite');
  const storage = new SqliteStorage({ file });
  let out: SeededUser[];
  try {
    out = await seedStorage(storage, users);
  } finally {
    await storage.close();
  }
  mkdirSync(dataDir, { recursive: true });
  copyFileSync(file, sqliteFile({ OMECHAT_DATA_DIR: dataDir }));
  rmSync(scratch, { recursive: true, force: true });
  return out;
}

/** The same accounts written through PostgresStorage into `schema` (created and migrated here). */
export async function seedPostgres(url: string, schema: string, users: { age: number; devices: number }[]): Promise<SeededUser[]> {
  const storage = await PostgresStorage.open({ url, schema });
  try {
    return await seedStorage(storage, users);
  } finally {
    await storage.close();
  }
}

/** Writes users and signed-in devices through the Storage port only (createUser, createClient). */
async function seedStorage(storage: Storage, users: { age: number; devices: number }[]): Promise<SeededUser[]> {
  const secretHash = await argon2Hasher().hash(cryptoRandom.secret());
  const now = Date.now();
  const out: SeededUser[] = [];
  for (let i = 0; i < users.length; i++) {
    const { age, devices } = users[i]!;
    const userHash = cryptoRandom.userHash();
    const username = `bench_${i}_${userHash.slice(0, 6).replace(/[^A-Za-z0-9]/g, 'x')}`;
    const created = await storage.accounts.createUser({ userHash, username, usernameKey: usernameKey(username), age, secretHash, createdAt: now });
    if (created !== 'created') throw new Error(`seed: createUser ${created}`);
    const creds: Credentials[] = [];
    for (let d = 0; d < devices; d++) {
      const clientHash: ClientHash = cryptoRandom.clientHash();
      const accessToken = cryptoRandom.accessToken();
      const result = await storage.accounts.createClient({
        clientHash,
        userHash,
        tokenHash: hashToken(accessToken),
        deviceName: `bench ${d}`,
        createdAt: now,
        lastSeenAt: null,
      });
      if (result !== 'created') throw new Error(`seed: createClient ${result}`);
      creds.push({ clientHash, accessToken });
    }
    out.push({ userHash, username, age, devices: creds });
  }
  return out;
}

/**
 * For a server whose storage cannot be written from outside (OMECHAT_STORAGE=memory): each
 * account through the API, `account.register` then one `account.login` per device, so two
 * argon2id runs or more per account (about 25 ms each on a busy 2-core box), `parallel` at a time.
 */
export async function registerAccounts(url: string, users: { age: number; devices: number }[], parallel = 4): Promise<SeededUser[]> {
  return openMany(users.length, parallel, async (i) => {
    const { age, devices } = users[i]!;
    const rpc = await RpcClient.open({ url, credentials: null });
    try {
      const username = `bench_${i}_${randomBytes(4).toString('hex')}`;
      const { userHash, secret } = await rpc.call<{ userHash: UserHash; secret: string }>('mutation', 'account.register', { username, age });
      const creds: Credentials[] = [];
      for (let d = 0; d < devices; d++) {
        const { clientHash, accessToken } = await rpc.call<Credentials>('mutation', 'account.login', { username, secret, deviceName: `bench ${d}` });
        creds.push({ clientHash, accessToken });
      }
      return { userHash, username, age, devices: creds };
    } finally {
      await rpc.close();
    }
  });
}

/**
 * Median time of one durable write transaction of the server's SQLite adapter in the temp
 * dir: with synchronous=FULL it is mostly an fsync, and the event loop waits for it.
 */
export async function probeCommitMs(samples = 200): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'omechat-probe-'));
  const storage = new SqliteStorage({ file: join(dir, 'probe.sqlite') });
  const times: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const userHash = cryptoRandom.userHash();
      const t0 = performance.now();
      await storage.accounts.createUser({ userHash, username: `probe_${i}`, usernameKey: `probe_${i}`, age: 30, secretHash: 'x', createdAt: 0 });
      times.push(performance.now() - t0);
    }
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}
