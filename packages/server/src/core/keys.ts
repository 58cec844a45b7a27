import {
  MAX_ONE_TIME_KEM_PREKEYS,
  MAX_ONE_TIME_PREKEYS,
  type DeviceBundle,
  type IdentityKeys,
  type KemPrekey,
  type Prekey,
  type SignedPrekey,
  type UserHash,
} from '@omechat/protocol';
import type { Storage } from '../ports/storage.js';
import type { Session } from './accounts.js';
import { DomainError } from './domain-error.js';

/**
 * The public-key directory for end-to-end encryption. The server hands out what devices
 * uploaded; it never sees a private key and cannot decrypt anything.
 */
export class Keys {
  constructor(
    private readonly storage: Pick<Storage, 'chats' | 'keys'>,
    /** Blocked users may not fetch each other's keys (nor use up one-time prekeys). */
    private readonly blockedEitherWay: (a: UserHash, b: UserHash) => Promise<boolean>,
  ) {}

  async upload(
    session: Session,
    input: {
      identity: IdentityKeys;
      signedPrekey: SignedPrekey;
      oneTimePrekeys: Prekey[];
      lastResortKemPrekey?: KemPrekey | undefined;
      oneTimeKemPrekeys: KemPrekey[];
    },
  ) {
    const result = await this.storage.keys.setDeviceKeys(
      session.clientHash,
      input.identity,
      input.signedPrekey,
      input.lastResortKemPrekey,
    );
    if (result === 'identity_mismatch') {
      throw new DomainError('CONFLICT', "A device's identity key cannot change; sign in as a new device");
    }
    if (result === 'no_client') throw new DomainError('UNAUTHORIZED', 'This device no longer exists');
    // The storage counts what a device holds before it inserts, in one transaction, so the
    // limits hold even for many uploads in one frame; a device at its limit inserts nothing.
    const oneTimePrekeys = await this.storage.keys.addOneTimePrekeys(session.clientHash, input.oneTimePrekeys, MAX_ONE_TIME_PREKEYS);
    const oneTimeKemPrekeys = await this.storage.keys.addOneTimeKemPrekeys(
      session.clientHash,
      input.oneTimeKemPrekeys,
      MAX_ONE_TIME_KEM_PREKEYS,
    );
    const { hasLastResort } = await this.storage.keys.countKemPrekeys(session.clientHash);
    return { hasIdentity: true, oneTimePrekeys, oneTimeKemPrekeys, hasLastResortKemPrekey: hasLastResort };
  }

  async status(session: Session) {
    const identities = await this.storage.keys.listDeviceIdentities(session.userHash);
    const kem = await this.storage.keys.countKemPrekeys(session.clientHash);
    return {
      hasIdentity: identities.some((d) => d.clientHash === session.clientHash),
      oneTimePrekeys: await this.storage.keys.countOneTimePrekeys(session.clientHash),
      oneTimeKemPrekeys: kem.oneTime,
      hasLastResortKemPrekey: kem.hasLastResort,
    };
  }

  /**
   * Bundles of the peer's devices, or of the caller's own other devices. Only for a peer of an
   * active chat: each call uses up one-time prekeys, and a past peer has nothing left to
   * encrypt to them, only their prekeys to drain.
   */
  async bundles(session: Session, userHash: UserHash): Promise<DeviceBundle[]> {
    if (userHash !== session.userHash && !(await this.storage.chats.hasActiveChat(session.userHash, userHash))) {
      throw new DomainError('FORBIDDEN', 'You share no active chat with this user');
    }
    await this.#mayAddress(session, userHash);
    const bundles = await this.storage.keys.takeBundles(userHash);
    return bundles.filter((d) => d.clientHash !== session.clientHash);
  }

  async devices(session: Session, userHash: UserHash) {
    await this.#mayAddress(session, userHash);
    return this.storage.keys.listDeviceIdentities(userHash);
  }

  /** Only people who share a chat may fetch each other's keys: no harvesting of prekeys. */
  async #mayAddress(session: Session, userHash: UserHash): Promise<void> {
    if (userHash === session.userHash) return;
    const chats = await this.storage.chats.listChats(session.userHash);
    if (!chats.some((c) => c.members.includes(userHash)) || (await this.blockedEitherWay(session.userHash, userHash))) {
      throw new DomainError('FORBIDDEN', 'You share no chat with this user');
    }
  }
}
