import { z } from 'zod';
import {
  accessTokenSchema,
  ageSchema,
  clientHashSchema,
  secretSchema,
  userHashSchema,
  usernameKey,
  usernameSchema,
  type UserHash,
} from '@omechat/protocol';
import type { Clock } from '../ports/clock.js';
import type { SecretHasher } from '../ports/secret-hasher.js';
import type { Storage } from '../ports/storage.js';
import { hashToken } from './tokens.js';

/**
 * The original OmeChat file format:
 *   user.json   {"<userHash>": {"clients": ["<clientHash>"], "age": 16, "secret": "…", "username": "…"}}
 *   client.json {"<clientHash>": {"owner": "<userHash>", "access_token": "…"}}
 */
const seedUser = z.object({
  clients: z.array(z.string()).default([]),
  age: ageSchema,
  secret: secretSchema,
  username: usernameSchema,
});
const seedClient = z.object({ owner: z.string(), access_token: accessTokenSchema });

export interface SeedProblem {
  file: 'users' | 'clients';
  key: string;
  reason: string;
}
export interface SeedReport {
  usersImported: number;
  clientsImported: number;
  problems: SeedProblem[];
}

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'record'}: ${i.message}`).join('; ');
}

/** Imports valid records and reports each invalid one by key; values are never echoed. */
export async function importSeed(
  deps: { storage: Pick<Storage, 'accounts'>; hasher: SecretHasher; clock: Clock },
  users: unknown,
  clients: unknown,
): Promise<SeedReport> {
  const report: SeedReport = { usersImported: 0, clientsImported: 0, problems: [] };
  const problem = (file: SeedProblem['file'], key: string, reason: string) =>
    report.problems.push({ file, key, reason });

  if (!isPlainObject(users)) throw new Error('users file must be a JSON object keyed by userHash');
  if (!isPlainObject(clients)) throw new Error('clients file must be a JSON object keyed by clientHash');

  const imported = new Set<UserHash>();
  for (const [key, raw] of Object.entries(users)) {
    const id = userHashSchema.safeParse(key);
    const record = seedUser.safeParse(raw);
    if (!id.success) problem('users', key, 'key is not a valid userHash');
    else if (!record.success) problem('users', key, describe(record.error));
    if (!id.success || !record.success) continue;
    const result = await deps.storage.accounts.createUser({
      userHash: id.data,
      username: record.data.username,
      usernameKey: usernameKey(record.data.username),
      age: record.data.age,
      secretHash: await deps.hasher.hash(record.data.secret),
      createdAt: deps.clock.now(),
    });
    if (result === 'created') {
      imported.add(id.data);
      report.usersImported++;
    } else {
      problem('users', key, result === 'username_taken' ? 'username is taken' : 'user already exists');
    }
  }

  for (const [key, raw] of Object.entries(clients)) {
    const id = clientHashSchema.safeParse(key);
    const record = seedClient.safeParse(raw);
    if (!id.success) problem('clients', key, 'key is not a valid clientHash');
    else if (!record.success) problem('clients', key, describe(record.error));
    if (!id.success || !record.success) continue;
    const owner = record.data.owner as UserHash;
    if (!imported.has(owner)) {
      problem('clients', key, 'owner was not imported');
      continue;
    }
    const ownerRecord = users[owner];
    if (!(isPlainObject(ownerRecord) && Array.isArray(ownerRecord.clients) && ownerRecord.clients.includes(key))) {
      problem('clients', key, "owner does not list this client");
      continue;
    }
    const result = await deps.storage.accounts.createClient({
      clientHash: id.data,
      userHash: owner,
      tokenHash: hashToken(record.data.access_token),
      deviceName: null,
      createdAt: deps.clock.now(),
      lastSeenAt: null,
    });
    if (result === 'created') report.clientsImported++;
    else problem('clients', key, result === 'client_exists' ? 'client already exists' : 'owner missing');
  }
  return report;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
