import { utf8ToBytes } from '@noble/hashes/utils.js';
import { E2EDevice, type DeviceAddress, type EncryptedPart, type RecipientDevice } from './device.js';
import { seededRng } from './seeded-rng.js';

/** A device with a deterministic RNG, so a failing test fails the same way every run. */
export function makeDevice(userHash: string, clientHash: string): E2EDevice {
  return E2EDevice.create({ userHash, clientHash }, { rng: seededRng(`${userHash}/${clientHash}`) });
}

/**
 * Plays the server's part: a device we have no session with comes with a bundle holding a
 * fresh one-time prekey (and, from a v2 device, a fresh one-time KEM prekey), as the server
 * would hand out.
 */
export function recipient(sender: E2EDevice, target: E2EDevice): RecipientDevice {
  if (sender.peerIdentity(target.address) !== undefined) return target.address;
  const [oneTime] = target.generateOneTimePrekeys(1);
  const [oneTimeKem] = target.generateOneTimeKemPrekeys(1);
  return { ...target.address, bundle: target.bundle(oneTime?.id, oneTimeKem?.id) };
}

/** Encrypts `text` for `targets` and returns each target's part, keyed by client hash. */
export function send(sender: E2EDevice, targets: readonly E2EDevice[], text: string): Map<string, EncryptedPart> {
  const parts = sender.encryptFor(
    targets.map((t) => recipient(sender, t)),
    utf8ToBytes(text),
  );
  return new Map(parts.map((p) => [p.to, p]));
}

export function receive(device: E2EDevice, from: DeviceAddress, part: EncryptedPart | undefined): string {
  if (!part) throw new Error(`no part for ${device.address.clientHash}`);
  return new TextDecoder().decode(device.decrypt(from, part));
}
