import type { ClientHash, DeviceBundle, IdentityKeys, KemPrekey, Prekey, SignedPrekey, UserHash } from '@omechat/protocol';
import type Database from 'better-sqlite3';
import type { KeyStore } from '../../../ports/storage.js';
import type { SqliteConnection } from './connection.js';

interface KeysRow {
  clientHash: ClientHash;
  signingPub: string;
  dhPub: string;
  signedPrekey: string;
  lastResortKemPrekey: string | null;
}

function prepareKeyStatements(db: Database.Database) {
  return {
    getClient: db.prepare<[ClientHash], 1>('SELECT 1 FROM clients WHERE client_hash = ?').pluck(),
    setLastResortKem: db.prepare<[string, ClientHash]>('UPDATE device_keys SET last_resort_kem_prekey = ? WHERE client_hash = ?'),
    insertKemPrekey: db.prepare<[ClientHash, number, string, string]>(
      'INSERT OR IGNORE INTO one_time_kem_prekeys (client_hash, id, pub, signature) VALUES (?, ?, ?, ?)',
    ),
    countKemPrekeys: db.prepare<[ClientHash], number>('SELECT count(*) FROM one_time_kem_prekeys WHERE client_hash = ?').pluck(),
    firstKemPrekey: db.prepare<[ClientHash], KemPrekey>(
      'SELECT id, pub, signature FROM one_time_kem_prekeys WHERE client_hash = ? ORDER BY id LIMIT 1',
    ),
    deleteKemPrekey: db.prepare<[ClientHash, number]>('DELETE FROM one_time_kem_prekeys WHERE client_hash = ? AND id = ?'),
    getKeys: db.prepare<[ClientHash], KeysRow>(
      `SELECT client_hash AS clientHash, signing_pub AS signingPub, dh_pub AS dhPub, signed_prekey AS signedPrekey,
         last_resort_kem_prekey AS lastResortKemPrekey FROM device_keys WHERE client_hash = ?`,
    ),
    upsertKeys: db.prepare<[ClientHash, string, string, string]>(
      `INSERT INTO device_keys (client_hash, signing_pub, dh_pub, signed_prekey) VALUES (?, ?, ?, ?)
       ON CONFLICT (client_hash) DO UPDATE SET signed_prekey = excluded.signed_prekey`,
    ),
    insertPrekey: db.prepare<[ClientHash, number, string]>(
      'INSERT OR IGNORE INTO one_time_prekeys (client_hash, id, pub) VALUES (?, ?, ?)',
    ),
    countPrekeys: db.prepare<[ClientHash], number>('SELECT count(*) FROM one_time_prekeys WHERE client_hash = ?').pluck(),
    firstPrekey: db.prepare<[ClientHash], Prekey>(
      'SELECT id, pub FROM one_time_prekeys WHERE client_hash = ? ORDER BY id LIMIT 1',
    ),
    deletePrekey: db.prepare<[ClientHash, number]>('DELETE FROM one_time_prekeys WHERE client_hash = ? AND id = ?'),
    keysOfUser: db.prepare<[UserHash], KeysRow>(
      `SELECT k.client_hash AS clientHash, k.signing_pub AS signingPub, k.dh_pub AS dhPub, k.signed_prekey AS signedPrekey,
         k.last_resort_kem_prekey AS lastResortKemPrekey
       FROM device_keys k JOIN clients c ON c.client_hash = k.client_hash
       WHERE c.user_hash = ? ORDER BY c.created_at, c.client_hash`,
    ),
  };
}
export class SqliteKeys implements KeyStore {
  readonly #keys: ReturnType<typeof prepareKeyStatements>;

  constructor(private readonly conn: SqliteConnection) {
    this.#keys = prepareKeyStatements(conn.db);
  }

  async setDeviceKeys(clientHash: ClientHash, identity: IdentityKeys, signedPrekey: SignedPrekey, lastResortKemPrekey?: KemPrekey) {
    return this.conn.write(() => {
      if (!this.#keys.getClient.get(clientHash)) return 'no_client' as const;
      const held = this.#keys.getKeys.get(clientHash);
      if (held && (held.signingPub !== identity.signingPub || held.dhPub !== identity.dhPub)) return 'identity_mismatch' as const;
      this.#keys.upsertKeys.run(clientHash, identity.signingPub, identity.dhPub, JSON.stringify(signedPrekey));
      if (lastResortKemPrekey) this.#keys.setLastResortKem.run(JSON.stringify(lastResortKemPrekey), clientHash);
      return 'ok' as const;
    });
  }

  async addOneTimeKemPrekeys(clientHash: ClientHash, prekeys: KemPrekey[], limit = Infinity): Promise<number> {
    return this.conn.write(() => {
      if (!this.#keys.getKeys.get(clientHash)) return 0;
      const room = limit - (this.#keys.countKemPrekeys.get(clientHash) ?? 0);
      for (const p of prekeys.slice(0, Math.max(0, room))) this.#keys.insertKemPrekey.run(clientHash, p.id, p.pub, p.signature);
      return this.#keys.countKemPrekeys.get(clientHash) ?? 0;
    });
  }

  async countKemPrekeys(clientHash: ClientHash) {
    this.conn.read();
    return {
      oneTime: this.#keys.countKemPrekeys.get(clientHash) ?? 0,
      hasLastResort: (this.#keys.getKeys.get(clientHash)?.lastResortKemPrekey ?? null) !== null,
    };
  }

  async addOneTimePrekeys(clientHash: ClientHash, prekeys: Prekey[], limit = Infinity): Promise<number> {
    return this.conn.write(() => {
      if (!this.#keys.getKeys.get(clientHash)) return 0;
      // Counted inside the write transaction: concurrent uploads cannot overshoot the limit.
      const room = limit - (this.#keys.countPrekeys.get(clientHash) ?? 0);
      for (const p of prekeys.slice(0, Math.max(0, room))) this.#keys.insertPrekey.run(clientHash, p.id, p.pub);
      return this.#keys.countPrekeys.get(clientHash) ?? 0;
    });
  }

  async countOneTimePrekeys(clientHash: ClientHash): Promise<number> {
    this.conn.read();
    return this.#keys.countPrekeys.get(clientHash) ?? 0;
  }

  async listDeviceIdentities(userHash: UserHash) {
    this.conn.read();
    return this.#keys.keysOfUser.all(userHash).map((row) => ({
      clientHash: row.clientHash,
      identity: { signingPub: row.signingPub, dhPub: row.dhPub },
    }));
  }

  async takeBundles(userHash: UserHash): Promise<DeviceBundle[]> {
    return this.conn.write(() =>
      this.#keys.keysOfUser.all(userHash).map((row) => {
        const oneTimePrekey = this.#keys.firstPrekey.get(row.clientHash);
        if (oneTimePrekey) this.#keys.deletePrekey.run(row.clientHash, oneTimePrekey.id);
        const oneTimeKem = this.#keys.firstKemPrekey.get(row.clientHash);
        if (oneTimeKem) this.#keys.deleteKemPrekey.run(row.clientHash, oneTimeKem.id);
        const kemPrekey = oneTimeKem ?? (row.lastResortKemPrekey === null ? undefined : (JSON.parse(row.lastResortKemPrekey) as KemPrekey));
        return {
          clientHash: row.clientHash,
          bundle: {
            identitySigningPub: row.signingPub,
            identityDhPub: row.dhPub,
            signedPrekey: JSON.parse(row.signedPrekey) as SignedPrekey,
            ...(oneTimePrekey ? { oneTimePrekey } : {}),
            ...(kemPrekey ? { kemPrekey } : {}),
          },
        };
      }),
    );
  }
}
