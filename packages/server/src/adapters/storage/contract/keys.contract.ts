import { beforeEach, describe, expect, it } from 'vitest';
import type { ClientHash } from '@omechat/protocol';
import type { Storage } from '../../../ports/storage.js';
import { client, hash, user, type ContractContext , contractWrites } from './fixtures.js';

/** The end-to-end keys part of the Storage contract. */
export function keysContract(t: ContractContext): void {
  let storage: Storage;
  beforeEach(() => {
    storage = t.storage();
  });
  const alice = user('alice');
  const { seed } = contractWrites(() => storage);

  describe('end-to-end keys', () => {
    const key = (c: string) => c.repeat(43);
    const identity = { signingPub: key('s'), dhPub: key('d') };
    const spk = (id: number) => ({ id, pub: key('p'), signature: 'g'.repeat(86) });
    const phone = client('alice-phone', alice.userHash);
    const laptop = client('alice-laptop', alice.userHash, 2_000);

    it('keeps a device identity fixed and replaces its signed prekey', async () => {
      await seed(alice);
      await storage.accounts.createClient(phone);
      expect(await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(1))).toBe('ok');
      expect(await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(2))).toBe('ok');
      expect(await storage.keys.setDeviceKeys(phone.clientHash, { ...identity, dhPub: key('x') }, spk(3))).toBe('identity_mismatch');
      expect(await storage.keys.setDeviceKeys(hash<ClientHash>('nobody'), identity, spk(1))).toBe('no_client');
      const [bundle] = await storage.keys.takeBundles(alice.userHash);
      expect(bundle?.bundle.signedPrekey.id).toBe(2);
      expect(await storage.keys.listDeviceIdentities(alice.userHash)).toEqual([{ clientHash: phone.clientHash, identity }]);
    });

    it('hands out each one-time prekey once, per device, lowest id first', async () => {
      await seed(alice);
      await storage.accounts.createClient(phone);
      await storage.accounts.createClient(laptop);
      await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(1));
      await storage.keys.setDeviceKeys(laptop.clientHash, { signingPub: key('t'), dhPub: key('e') }, spk(1));
      expect(await storage.keys.addOneTimePrekeys(phone.clientHash, [{ id: 7, pub: key('a') }, { id: 3, pub: key('b') }])).toBe(2);
      expect(await storage.keys.addOneTimePrekeys(phone.clientHash, [{ id: 3, pub: key('z') }])).toBe(2);
      const first = await storage.keys.takeBundles(alice.userHash);
      expect(first.map((d) => d.clientHash)).toEqual([phone.clientHash, laptop.clientHash]);
      expect(first[0]!.bundle.oneTimePrekey).toEqual({ id: 3, pub: key('b') });
      expect(first[1]!.bundle.oneTimePrekey).toBeUndefined();
      expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.oneTimePrekey?.id).toBe(7);
      expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.oneTimePrekey).toBeUndefined();
      expect(await storage.keys.countOneTimePrekeys(phone.clientHash)).toBe(0);
    });

    const kem = (id: number, c = 'k') => ({ id, pub: c.repeat(1579), signature: 'h'.repeat(86) });

    it('E2E v2: hands out each one-time KEM prekey once, then the last-resort one, which stays', async () => {
      await seed(alice);
      await storage.accounts.createClient(phone);
      await storage.accounts.createClient(laptop);
      expect(await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(1), kem(1, 'L'))).toBe('ok');
      await storage.keys.setDeviceKeys(laptop.clientHash, { signingPub: key('t'), dhPub: key('e') }, spk(1));
      expect(await storage.keys.countKemPrekeys(phone.clientHash)).toEqual({ oneTime: 0, hasLastResort: true });
      expect(await storage.keys.countKemPrekeys(laptop.clientHash)).toEqual({ oneTime: 0, hasLastResort: false });
      expect(await storage.keys.addOneTimeKemPrekeys(phone.clientHash, [kem(9, 'a'), kem(4, 'b')])).toBe(2);
      expect(await storage.keys.addOneTimeKemPrekeys(phone.clientHash, [kem(4, 'z')])).toBe(2);
      expect(await storage.keys.addOneTimeKemPrekeys(hash<ClientHash>('nobody'), [kem(1)])).toBe(0);
      // A limit is counted against what the device holds: only one of these two fits under 3.
      expect(await storage.keys.addOneTimeKemPrekeys(phone.clientHash, [kem(20, 'c'), kem(21, 'd')], 3)).toBe(3);
      expect(await storage.keys.addOneTimeKemPrekeys(phone.clientHash, [kem(22, 'e')], 3)).toBe(3);
      expect(await storage.keys.addOneTimePrekeys(phone.clientHash, [{ id: 1, pub: key('a') }, { id: 2, pub: key('b') }], 1)).toBe(1);
      const first = await storage.keys.takeBundles(alice.userHash);
      expect(first[0]!.bundle.kemPrekey).toEqual(kem(4, 'b'));
      expect(first[1]!.bundle.kemPrekey).toBeUndefined(); // a v1 device's bundle
      expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.kemPrekey).toEqual(kem(9, 'a'));
      expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.kemPrekey).toEqual(kem(20, 'c'));
      expect(await storage.keys.countKemPrekeys(phone.clientHash)).toEqual({ oneTime: 0, hasLastResort: true });
      for (let i = 0; i < 2; i++) expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.kemPrekey).toEqual(kem(1, 'L'));
      // An upload without a last-resort KEM prekey keeps the one held; a new one replaces it.
      await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(2));
      expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.kemPrekey).toEqual(kem(1, 'L'));
      await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(3), kem(2, 'M'));
      expect((await storage.keys.takeBundles(alice.userHash))[0]!.bundle.kemPrekey).toEqual(kem(2, 'M'));
      await storage.accounts.deleteClient(phone.clientHash);
      expect(await storage.keys.countKemPrekeys(phone.clientHash)).toEqual({ oneTime: 0, hasLastResort: false });
    });

    it('forgets a device\'s keys with the device and with its account', async () => {
      await seed(alice);
      await storage.accounts.createClient(phone);
      await storage.keys.setDeviceKeys(phone.clientHash, identity, spk(1));
      await storage.keys.addOneTimePrekeys(phone.clientHash, [{ id: 1, pub: key('a') }]);
      await storage.accounts.deleteClient(phone.clientHash);
      expect(await storage.keys.takeBundles(alice.userHash)).toEqual([]);
      expect(await storage.keys.countOneTimePrekeys(phone.clientHash)).toBe(0);
      await storage.accounts.createClient(laptop);
      await storage.keys.setDeviceKeys(laptop.clientHash, identity, spk(1));
      await storage.accounts.deleteUser(alice.userHash, 1);
      expect(await storage.keys.listDeviceIdentities(alice.userHash)).toEqual([]);
    });
  });
}
