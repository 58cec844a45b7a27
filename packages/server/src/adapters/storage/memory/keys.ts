import type { ClientHash, DeviceBundle, IdentityKeys, KemPrekey, Prekey, SignedPrekey, UserHash } from '@omechat/protocol';
import type { KeyStore } from '../../../ports/storage.js';
import type { MemoryAccounts } from './accounts.js';
import { copy, type MemoryTables } from './tables.js';

export class MemoryKeys implements KeyStore {
  constructor(
    private readonly db: MemoryTables,
    private readonly accounts: MemoryAccounts,
  ) {}

  async setDeviceKeys(clientHash: ClientHash, identity: IdentityKeys, signedPrekey: SignedPrekey, lastResortKemPrekey?: KemPrekey) {
    this.db.assertOpen();
    if (!this.db.clients.has(clientHash)) return 'no_client' as const;
    const held = this.db.deviceKeys.get(clientHash);
    if (held && (held.identity.signingPub !== identity.signingPub || held.identity.dhPub !== identity.dhPub)) {
      return 'identity_mismatch' as const;
    }
    this.db.deviceKeys.set(clientHash, {
      identity: copy(identity),
      signedPrekey: copy(signedPrekey),
      oneTime: held?.oneTime ?? new Map<number, Prekey>(),
      lastResortKem: lastResortKemPrekey ? copy(lastResortKemPrekey) : held?.lastResortKem,
      oneTimeKem: held?.oneTimeKem ?? new Map<number, KemPrekey>(),
    });
    return 'ok' as const;
  }

  async addOneTimeKemPrekeys(clientHash: ClientHash, prekeys: KemPrekey[], limit = Infinity): Promise<number> {
    this.db.assertOpen();
    const held = this.db.deviceKeys.get(clientHash);
    if (!held) return 0;
    for (const p of prekeys) if (held.oneTimeKem.size < limit && !held.oneTimeKem.has(p.id)) held.oneTimeKem.set(p.id, copy(p));
    return held.oneTimeKem.size;
  }

  async countKemPrekeys(clientHash: ClientHash) {
    this.db.assertOpen();
    const held = this.db.deviceKeys.get(clientHash);
    return { oneTime: held?.oneTimeKem.size ?? 0, hasLastResort: held?.lastResortKem !== undefined };
  }

  async addOneTimePrekeys(clientHash: ClientHash, prekeys: Prekey[], limit = Infinity): Promise<number> {
    this.db.assertOpen();
    const held = this.db.deviceKeys.get(clientHash);
    if (!held) return 0;
    for (const p of prekeys) if (held.oneTime.size < limit && !held.oneTime.has(p.id)) held.oneTime.set(p.id, copy(p));
    return held.oneTime.size;
  }

  async countOneTimePrekeys(clientHash: ClientHash): Promise<number> {
    this.db.assertOpen();
    return this.db.deviceKeys.get(clientHash)?.oneTime.size ?? 0;
  }

  async listDeviceIdentities(userHash: UserHash) {
    this.db.assertOpen();
    return (await this.accounts.listClients(userHash)).flatMap((c) => {
      const keys = this.db.deviceKeys.get(c.clientHash);
      return keys ? [{ clientHash: c.clientHash, identity: copy(keys.identity) }] : [];
    });
  }

  async takeBundles(userHash: UserHash): Promise<DeviceBundle[]> {
    this.db.assertOpen();
    return (await this.accounts.listClients(userHash)).flatMap((c) => {
      const keys = this.db.deviceKeys.get(c.clientHash);
      if (!keys) return [];
      // Lowest id first, as the SQL adapter does.
      const oneTimePrekey = [...keys.oneTime.values()].sort((a, b) => a.id - b.id)[0];
      if (oneTimePrekey) keys.oneTime.delete(oneTimePrekey.id);
      const oneTimeKem = [...keys.oneTimeKem.values()].sort((a, b) => a.id - b.id)[0];
      if (oneTimeKem) keys.oneTimeKem.delete(oneTimeKem.id);
      const kemPrekey = oneTimeKem ?? (keys.lastResortKem && copy(keys.lastResortKem));
      return [{
        clientHash: c.clientHash,
        bundle: {
          identitySigningPub: keys.identity.signingPub,
          identityDhPub: keys.identity.dhPub,
          signedPrekey: copy(keys.signedPrekey),
          ...(oneTimePrekey ? { oneTimePrekey } : {}),
          ...(kemPrekey ? { kemPrekey } : {}),
        },
      }];
    });
  }
}
