import type { ClientHash, DeviceBundle, IdentityKeys, KemPrekey, Prekey, SignedPrekey, UserHash } from '@omechat/protocol';

/** The public end-to-end keys of devices. */
export interface KeyStore {
  /**
   * Sets a device's identity keys (once: a different identity later gives
   * `identity_mismatch`) and replaces its signed prekey, and its last-resort KEM prekey when
   * one is given (one held is never removed: E2E v2 devices count on it).
   */
  setDeviceKeys(
    clientHash: ClientHash,
    identity: IdentityKeys,
    signedPrekey: SignedPrekey,
    lastResortKemPrekey?: KemPrekey,
  ): Promise<'ok' | 'identity_mismatch' | 'no_client'>;
  /**
   * Adds one-time prekeys (ids already held are ignored) while the device holds fewer than
   * `limit`, counted in the same transaction as the insert, so concurrent uploads cannot
   * overshoot it; returns how many the device holds.
   */
  addOneTimePrekeys(clientHash: ClientHash, prekeys: Prekey[], limit?: number): Promise<number>;
  countOneTimePrekeys(clientHash: ClientHash): Promise<number>;
  /** Adds one-time KEM prekeys, as `addOneTimePrekeys`; returns how many the device holds. */
  addOneTimeKemPrekeys(clientHash: ClientHash, prekeys: KemPrekey[], limit?: number): Promise<number>;
  countKemPrekeys(clientHash: ClientHash): Promise<{ oneTime: number; hasLastResort: boolean }>;
  /** Identity keys of each device of a user that has uploaded them. */
  listDeviceIdentities(userHash: UserHash): Promise<{ clientHash: ClientHash; identity: IdentityKeys }[]>;
  /**
   * A prekey bundle for each device of a user that has keys, atomically taking (deleting)
   * one one-time prekey and one one-time KEM prekey per device (lowest ids first), so none
   * is ever handed out twice. With no one-time KEM prekey left, the last-resort one goes in.
   */
  takeBundles(userHash: UserHash): Promise<DeviceBundle[]>;
}
