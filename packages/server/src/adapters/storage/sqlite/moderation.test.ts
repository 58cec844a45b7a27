import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStorage } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'omechat-sqlite-mod-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteStorage moderation tables', () => {
  it('refuse, in the database itself, to change the audit log or delete a ban', async () => {
    const file = join(dir, 'audit.db');
    const storage = new SqliteStorage({ file });
    await storage.moderation.createBan(
      { layer: 'account', target: 'user-mallory', reason: 'x', issuer: 'mod', createdAt: 1, expiresAt: null },
      [],
      () => ({ at: 1, actor: 'mod', action: 'ban.create', subject: 'account:user-mallory', details: {} }),
    );
    await storage.close();

    // Even someone with the database file and a SQL prompt cannot quietly rewrite history.
    const db = new Database(file);
    expect(() => db.prepare("UPDATE audit_log SET actor = 'nobody'").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM bans').run()).toThrow(/never deleted/);
    db.close();

    const reopened = new SqliteStorage({ file });
    expect(await reopened.moderation.listAudit({ limit: 10 })).toMatchObject([{ actor: 'mod' }]);
    expect(await reopened.moderation.listBans({ activeAt: 2 })).toHaveLength(1);
    await reopened.close();
  });
});
