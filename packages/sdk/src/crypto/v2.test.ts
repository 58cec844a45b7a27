import { utf8ToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { E2EDevice, type RecipientDevice } from './device.js';
import { fromBase64url, toBase64url } from './encoding.js';
import { decodeHeader } from './header.js';
import { seededRng } from './seeded-rng.js';
import { makeDevice, receive, recipient, send } from './test-helpers.js';
import type { PrekeyBundle } from './x3dh.js';
import { codeOf } from './crypto-test-helpers.js';

const ALICE = 'alice-user-hash-0001';
const BOB = 'bob-user-hash-000001';


const v1Device = (userHash: string, clientHash: string) =>
  E2EDevice.create({ userHash, clientHash }, { rng: seededRng(`${userHash}/${clientHash}`), maxVersion: 1 });

/** A bundle as a malicious server would hand it out: the KEM prekey stripped. */
function stripped(sender: E2EDevice, target: E2EDevice): RecipientDevice {
  const { kemPrekey: _dropped, ...bundle } = recipient(sender, target).bundle!;
  return { ...target.address, bundle };
}

describe('E2E v2 (PQXDH + padding)', () => {
  it('two v2 devices agree on a v2 session, and a one-time KEM prekey is used once', () => {
    const a1 = makeDevice(ALICE, 'alice-device-one-0001');
    const b1 = makeDevice(BOB, 'bob-device-one-000001');
    const target = recipient(a1, b1);
    const kemId = target.bundle!.kemPrekey!.id;
    expect(b1.oneTimeKemPrekeyIds()).toContain(kemId);
    const part = a1.encryptFor([target], utf8ToBytes('hello in v2'))[0]!;
    const header = decodeHeader(fromBase64url(part.header));
    expect(header.version).toBe(2);
    expect(header.init?.kem?.prekeyId).toBe(kemId);
    expect(receive(b1, a1.address, part)).toBe('hello in v2');
    expect(b1.oneTimeKemPrekeyIds()).not.toContain(kemId); // PQXDH §3.4: deleted after use
    expect(a1.sessionVersion(b1.address)).toBe(2);
    expect(b1.sessionVersion(a1.address)).toBe(2);
    expect(receive(a1, b1.address, send(b1, [a1], 'reply').get(a1.address.clientHash))).toBe('reply');
  });

  it('the last-resort KEM prekey serves when none is left, and survives its use', () => {
    const a1 = makeDevice(ALICE, 'alice-device-one-0001');
    const a2 = makeDevice(ALICE, 'alice-device-two-0002');
    const b1 = makeDevice(BOB, 'bob-device-one-000001');
    for (const sender of [a1, a2]) {
      const part = sender.encryptFor([{ ...b1.address, bundle: b1.bundle() }], utf8ToBytes('via last resort'))[0]!;
      expect(receive(b1, sender.address, part)).toBe('via last resort');
    }
    expect(b1.publicKeys().lastResortKemPrekey).toBeDefined();
  });

  it('checks the KEM prekey signature before use, and rejects a malformed KEM key', () => {
    const a1 = makeDevice(ALICE, 'alice-device-one-0001');
    const b1 = makeDevice(BOB, 'bob-device-one-000001');
    const mallory = makeDevice('mallory-user-hash-01', 'mallory-device-000001');
    const bundle = b1.bundle();
    const kem = bundle.kemPrekey!;
    const flipped = fromBase64url(kem.pub);
    flipped[100] = flipped[100]! ^ 1;
    const forgeries: PrekeyBundle[] = [
      { ...bundle, kemPrekey: { ...kem, id: kem.id + 1 } },
      { ...bundle, kemPrekey: { ...kem, pub: toBase64url(flipped) } },
      { ...bundle, kemPrekey: mallory.bundle().kemPrekey },
    ];
    for (const forged of forgeries) expect(codeOf(() => a1.encryptFor([{ ...b1.address, bundle: forged }], utf8ToBytes('x')))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => a1.encryptFor([{ ...b1.address, bundle: { ...bundle, kemPrekey: { ...kem, pub: 'AAAA' } } }], utf8ToBytes('x')))).toBe('MALFORMED');
    expect(a1.sessionVersion(b1.address)).toBeUndefined(); // nothing was created
  });

  it('seals the ratchet key and counters: headers of one chain share nothing but their first two bytes', () => {
    const a1 = makeDevice(ALICE, 'alice-device-one-0001');
    const b1 = makeDevice(BOB, 'bob-device-one-000001');
    receive(a1, b1.address, send(b1, [a1], 'first').get(a1.address.clientHash));
    const headers = ['one', 'two'].map((text) => {
      const part = send(a1, [b1], text).get(b1.address.clientHash)!;
      expect(receive(b1, a1.address, part)).toBe(text);
      return fromBase64url(part.header);
    });
    for (const header of headers) {
      expect(header.length).toBe(82);
      expect(decodeHeader(header)).toMatchObject({ version: 2, init: undefined });
    }
    expect([...headers[0]!.slice(0, 2)]).toEqual([2, 0]);
    const differing = headers[0]!.slice(2).filter((byte, i) => byte !== headers[1]![i + 2]).length;
    expect(differing).toBeGreaterThan(70); // fresh nonce and ciphertext: no visible counter or key
    // Tampering with the sealed fields is caught before any state changes.
    const part = send(a1, [b1], 'three').get(b1.address.clientHash)!;
    const bad = fromBase64url(part.header);
    bad[40] = bad[40]! ^ 1;
    const before = b1.exportState();
    expect(codeOf(() => b1.decrypt(a1.address, { ...part, header: toBase64url(bad) }))).toBe('DECRYPT_FAILED');
    expect(b1.exportState()).toBe(before);
    expect(receive(b1, a1.address, part)).toBe('three');
    expect(codeOf(() => b1.decrypt(a1.address, part))).toBe('REPLAY');
  });

  it('pads 1-, 20- and 120-character texts to the same size (v1 gave 41, 60 and 160 bytes)', () => {
    const a1 = makeDevice(ALICE, 'alice-device-one-0001');
    const b1 = makeDevice(BOB, 'bob-device-one-000001');
    receive(a1, b1.address, send(b1, [a1], 'first').get(a1.address.clientHash));
    const sizes = [1, 20, 120, 159, 160].map((n) => {
      const part = send(a1, [b1], 'x'.repeat(n)).get(b1.address.clientHash)!;
      expect(receive(b1, a1.address, part)).toBe('x'.repeat(n));
      return fromBase64url(part.ciphertext).length;
    });
    expect(sizes).toEqual([200, 200, 200, 200, 360]); // 24 nonce + 160 or 320 + 16 tag
  });

  it('talks v1 to a v1 peer both ways, and the v1 peer opens what a v2 device sends', () => {
    const a1 = makeDevice(ALICE, 'alice-device-one-0001');
    const old = v1Device(BOB, 'bob-device-one-000001');
    expect(old.publicKeys().lastResortKemPrekey).toBeUndefined();
    expect(old.generateOneTimeKemPrekeys(3)).toEqual([]);
    const part = send(a1, [old], 'hi old friend').get(old.address.clientHash)!;
    const header = decodeHeader(fromBase64url(part.header));
    expect(header.version).toBe(1);
    expect(header.version === 1 && header.previousChainLength).toBe(2); // the initiator's highest version: the downgrade signal
    expect(fromBase64url(part.ciphertext).length).toBe(13 + 40); // unpadded, as v1
    expect(receive(old, a1.address, part)).toBe('hi old friend');
    expect(receive(a1, old.address, send(old, [a1], 'back').get(a1.address.clientHash))).toBe('back');
    expect(a1.sessionVersion(old.address)).toBe(1);

    // The v1 peer starts a session with a v2 device: its pn is 0, so it is accepted, as v1.
    const b1 = makeDevice(BOB, 'bob-device-two-000002');
    const fromOld = send(old, [b1], 'v1 first').get(b1.address.clientHash)!;
    expect(decodeHeader(fromBase64url(fromOld.header))).toMatchObject({ version: 1, previousChainLength: 0 });
    expect(receive(b1, old.address, fromOld)).toBe('v1 first');
    expect(b1.sessionVersion(old.address)).toBe(1);
  });

  it('refuses a v2-capable peer\'s v1 handshake when it published KEM keys (downgrade by the server)', () => {
    const a1 = makeDevice(ALICE, 'alice-device-one-0001');
    const b1 = makeDevice(BOB, 'bob-device-one-000001');
    const part = a1.encryptFor([stripped(a1, b1)], utf8ToBytes('downgraded?'))[0]!;
    expect(a1.sessionVersion(b1.address)).toBe(1); // visible on the initiator's side
    const before = b1.exportState();
    expect(codeOf(() => b1.decrypt(a1.address, part))).toBe('DOWNGRADE');
    expect(b1.exportState()).toBe(before); // nothing burnt, nothing kept

    // Rewriting the signal to 0 breaks the AEAD: the header is authenticated.
    const header = fromBase64url(part.header);
    header.set([0, 0, 0, 0], 34);
    expect(codeOf(() => b1.decrypt(a1.address, { ...part, header: toBase64url(header) }))).toBe('DECRYPT_FAILED');
  });

  it('pins peer identities on first contact and reports a change once (TOFU), across restarts', () => {
    const a1 = makeDevice(ALICE, 'alice-device-one-0001');
    const b1 = makeDevice(BOB, 'bob-device-one-000001');
    receive(b1, a1.address, send(a1, [b1], 'hi').get(b1.address.clientHash));
    expect(a1.takeIdentityChanges()).toEqual([]);
    expect(b1.takeIdentityChanges()).toEqual([]);
    expect(a1.pinIdentity(b1.address, b1.identityPub)).toBe('same');

    // Bob's device comes back with new keys under the same address (or a server lies about it).
    const restored = E2EDevice.importState(a1.exportState());
    const reborn = makeDevice(BOB, 'bob-device-one-000001');
    const impostor = E2EDevice.create(b1.address, { rng: seededRng('someone else') });
    expect(restored.pinIdentity(b1.address, impostor.identityPub)).toBe('changed');
    expect(restored.takeIdentityChanges()).toEqual([
      { peer: b1.address, previous: b1.identityPub, current: impostor.identityPub },
    ]);
    expect(restored.pinIdentity(b1.address, impostor.identityPub)).toBe('same');
    expect(reborn.identityPub).toBe(b1.identityPub); // same seed, same key: no false alarm

    // A new session from a peer whose key differs from the pin reports it too.
    const a1Again = E2EDevice.importState(a1.exportState());
    const byImpostor = send(impostor, [a1Again], 'I am Bob').get(a1.address.clientHash);
    expect(receive(a1Again, b1.address, byImpostor)).toBe('I am Bob');
    expect(a1Again.takeIdentityChanges()).toEqual([{ peer: b1.address, previous: b1.identityPub, current: impostor.identityPub }]);
  });

  it('upgrades a v1 state on import: a last-resort KEM prekey, pins for its sessions, v1 sessions kept', () => {
    const a1 = v1Device(ALICE, 'alice-device-one-0001');
    const b1 = v1Device(BOB, 'bob-device-one-000001');
    receive(b1, a1.address, send(a1, [b1], 'before').get(b1.address.clientHash));
    const state = JSON.parse(b1.exportState()) as Record<string, unknown>;
    const v1State = JSON.stringify({
      v: 1,
      userHash: state.userHash,
      clientHash: state.clientHash,
      identitySecret: state.identitySecret,
      signedPrekeys: state.signedPrekeys,
      oneTimePrekeys: state.oneTimePrekeys,
      nextOneTimePrekeyId: state.nextOneTimePrekeyId,
      sessions: state.sessions,
    });
    const upgraded = E2EDevice.importState(v1State);
    expect(upgraded.maxVersion).toBe(2);
    expect(upgraded.publicKeys().lastResortKemPrekey).toBeDefined();
    expect(upgraded.pinIdentity(a1.address, a1.identityPub)).toBe('same');
    expect(receive(upgraded, a1.address, send(a1, [upgraded], 'after').get(b1.address.clientHash))).toBe('after');
    expect(upgraded.sessionVersion(a1.address)).toBe(1);
    expect(E2EDevice.importState(upgraded.exportState()).exportState()).toBe(upgraded.exportState());
  });
});
