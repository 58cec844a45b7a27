import type { ClientHash, DeviceBundle, IdentityKeys, KemPrekey, Prekey, SignedPrekey, UserHash } from '@omechat/protocol';
import type { KeyStore } from '../../../ports/storage.js';
import { FOREIGN_KEY_VIOLATION, pgCode, type PostgresConnection, type Sql } from './connection.js';

interface KeysRow {
  clientHash: ClientHash;
  signingPub: string;
  dhPub: string;
  signedPrekey: SignedPrekey;
  lastResortKemPrekey: KemPrekey | null;
}

export class PostgresKeys implements KeyStore {
  constructor(private readonly db: PostgresConnection) {}

  async setDeviceKeys(
    clientHash: ClientHash,
    identity: IdentityKeys,
    signedPrekey: SignedPrekey,
    lastResortKemPrekey?: KemPrekey,
  ): Promise<'ok' | 'identity_mismatch' | 'no_client'> {
    return this.db.read(async (sql) => {
      try {
        // One statement decides: a new device gets its keys; a known one only new signed
        // prekeys, and only when the identity matches (else no row comes back). A held
        // last-resort KEM prekey is only ever replaced, never removed.
        const set = await sql.query(
          `INSERT INTO device_keys (client_hash, signing_pub, dh_pub, signed_prekey, last_resort_kem_prekey)
           SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM clients WHERE client_hash = $1)
           ON CONFLICT (client_hash) DO UPDATE SET signed_prekey = excluded.signed_prekey,
             last_resort_kem_prekey = COALESCE(excluded.last_resort_kem_prekey, device_keys.last_resort_kem_prekey)
             WHERE device_keys.signing_pub = excluded.signing_pub AND device_keys.dh_pub = excluded.dh_pub`,
          [
            clientHash,
            identity.signingPub,
            identity.dhPub,
            JSON.stringify(signedPrekey),
            lastResortKemPrekey ? JSON.stringify(lastResortKemPrekey) : null,
          ],
        );
        if (set.rowCount === 1) return 'ok';
      } catch (err) {
        if (pgCode(err) !== FOREIGN_KEY_VIOLATION) throw err; // the device was revoked meanwhile
      }
      const held = await sql.query('SELECT 1 FROM device_keys WHERE client_hash = $1', [clientHash]);
      return held.rowCount === 1 ? 'identity_mismatch' : 'no_client';
    });
  }

  async addOneTimePrekeys(clientHash: ClientHash, prekeys: Prekey[], limit = Infinity): Promise<number> {
    return this.#addOneTime('one_time_prekeys', clientHash, prekeys, limit, (sql, taken) =>
      sql.query(
        `INSERT INTO one_time_prekeys (client_hash, id, pub)
         SELECT $1, p.id, p.pub FROM unnest($2::bigint[], $3::text[]) AS p(id, pub)
         ON CONFLICT DO NOTHING`,
        [clientHash, taken.map((p) => p.id), taken.map((p) => p.pub)],
      ),
    );
  }

  async addOneTimeKemPrekeys(clientHash: ClientHash, prekeys: KemPrekey[], limit = Infinity): Promise<number> {
    return this.#addOneTime('one_time_kem_prekeys', clientHash, prekeys, limit, (sql, taken) =>
      sql.query(
        `INSERT INTO one_time_kem_prekeys (client_hash, id, pub, signature)
         SELECT $1, p.id, p.pub, p.signature FROM unnest($2::bigint[], $3::text[], $4::text[]) AS p(id, pub, signature)
         ON CONFLICT DO NOTHING`,
        [clientHash, taken.map((p) => p.id), taken.map((p) => p.pub), taken.map((p) => p.signature)],
      ),
    );
  }

  /** Inserts what fits under `limit` of one kind of one-time prekey; returns how many the device holds. */
  #addOneTime<P>(table: string, clientHash: ClientHash, prekeys: P[], limit: number, insert: (sql: Sql, taken: P[]) => Promise<unknown>) {
    return this.db.tx(async (sql) => {
      // FOR NO KEY UPDATE keeps the device's keys from being deleted under the inserts, and
      // makes concurrent uploads for one device take turns, so the count below holds.
      const keys = await sql.query('SELECT 1 FROM device_keys WHERE client_hash = $1 FOR NO KEY UPDATE', [clientHash]);
      if (keys.rowCount === 0) return 0;
      const held = async () => (await sql.query<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE client_hash = $1`, [clientHash])).rows[0]?.n ?? 0;
      await insert(sql, prekeys.slice(0, Math.max(0, limit - (await held()))));
      return held();
    });
  }

  async countKemPrekeys(clientHash: ClientHash): Promise<{ oneTime: number; hasLastResort: boolean }> {
    const row = await this.db.one<{ n: number; lastResort: boolean | null }>(
      `SELECT (SELECT count(*) FROM one_time_kem_prekeys WHERE client_hash = $1) AS n,
         (SELECT last_resort_kem_prekey IS NOT NULL FROM device_keys WHERE client_hash = $1) AS "lastResort"`,
      [clientHash],
    );
    return { oneTime: row?.n ?? 0, hasLastResort: row?.lastResort === true };
  }

  async countOneTimePrekeys(clientHash: ClientHash): Promise<number> {
    const row = await this.db.one<{ n: number }>('SELECT count(*) AS n FROM one_time_prekeys WHERE client_hash = $1', [
      clientHash,
    ]);
    return row?.n ?? 0;
  }

  async listDeviceIdentities(userHash: UserHash): Promise<{ clientHash: ClientHash; identity: IdentityKeys }[]> {
    const rows = await this.db.all<KeysRow>(
      `SELECT k.client_hash AS "clientHash", k.signing_pub AS "signingPub", k.dh_pub AS "dhPub"
       FROM device_keys k JOIN clients c ON c.client_hash = k.client_hash
       WHERE c.user_hash = $1 ORDER BY c.created_at, c.client_hash`,
      [userHash],
    );
    return rows.map((row) => ({ clientHash: row.clientHash, identity: { signingPub: row.signingPub, dhPub: row.dhPub } }));
  }

  async takeBundles(userHash: UserHash): Promise<DeviceBundle[]> {
    // One statement: pick each device's lowest one-time prekey and delete exactly the picked
    // rows. SKIP LOCKED makes a concurrent taker pick the next key instead of waiting and
    // then handing out the same one; a key is only ever returned by the statement that
    // deleted it.
    // The one-time KEM prekey is picked and deleted the same way, in the same statement.
    type Row = KeysRow & { prekeyId: number | null; prekeyPub: string | null } & {
      kemId: number | null;
      kemPub: string | null;
      kemSignature: string | null;
    };
    const rows = await this.db.all<Row>(
      `WITH picked AS (
         SELECT k.client_hash, k.signing_pub, k.dh_pub, k.signed_prekey, k.last_resort_kem_prekey, c.created_at,
           p.id, p.pub, q.id AS kem_id, q.pub AS kem_pub, q.signature AS kem_signature
         FROM device_keys k
         JOIN clients c ON c.client_hash = k.client_hash
         LEFT JOIN LATERAL (
           SELECT id, pub FROM one_time_prekeys o WHERE o.client_hash = k.client_hash
           ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
         ) p ON true
         LEFT JOIN LATERAL (
           SELECT id, pub, signature FROM one_time_kem_prekeys o WHERE o.client_hash = k.client_hash
           ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
         ) q ON true
         WHERE c.user_hash = $1
       ), taken AS (
         DELETE FROM one_time_prekeys o USING picked WHERE o.client_hash = picked.client_hash AND o.id = picked.id
       ), taken_kem AS (
         DELETE FROM one_time_kem_prekeys o USING picked WHERE o.client_hash = picked.client_hash AND o.id = picked.kem_id
       )
       SELECT client_hash AS "clientHash", signing_pub AS "signingPub", dh_pub AS "dhPub",
         signed_prekey AS "signedPrekey", last_resort_kem_prekey AS "lastResortKemPrekey",
         id AS "prekeyId", pub AS "prekeyPub", kem_id AS "kemId", kem_pub AS "kemPub", kem_signature AS "kemSignature"
       FROM picked ORDER BY created_at, client_hash`,
      [userHash],
    );
    return rows.map((row) => ({
      clientHash: row.clientHash,
      bundle: {
        identitySigningPub: row.signingPub,
        identityDhPub: row.dhPub,
        signedPrekey: row.signedPrekey,
        ...(row.prekeyId !== null && row.prekeyPub !== null ? { oneTimePrekey: { id: row.prekeyId, pub: row.prekeyPub } } : {}),
        ...(row.kemId !== null && row.kemPub !== null && row.kemSignature !== null
          ? { kemPrekey: { id: row.kemId, pub: row.kemPub, signature: row.kemSignature } }
          : row.lastResortKemPrekey
            ? { kemPrekey: row.lastResortKemPrekey }
            : {}),
      },
    }));
  }
}
