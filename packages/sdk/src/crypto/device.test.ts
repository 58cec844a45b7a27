import { utf8ToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import {
  envelopePartSchema,
  keysUploadInput,
  LIMITS,
  MAX_KEM_PREKEYS_PER_UPLOAD,
  MAX_PREKEYS_PER_UPLOAD,
  prekeyBundleSchema,
} from '@omechat/protocol';
import { E2EDevice, MAX_PLAINTEXT_BYTES } from './device.js';
import { fromBase64url, toBase64url } from './encoding.js';
import { CryptoError } from './errors.js';
import { makeDevice, receive, recipient, send } from './test-helpers.js';

const ALICE = 'alice-user-hash-0001';
const BOB = 'bob-user-hash-000001';

function devices() {
  return {
    a1: makeDevice(ALICE, 'alice-device-one-0001'),
    a2: makeDevice(ALICE, 'alice-device-two-0002'),
    b1: makeDevice(BOB, 'bob-device-one-000001'),
    b2: makeDevice(BOB, 'bob-device-two-000002'),
  };
}

function expectCode(fn: () => unknown, code: CryptoError['code']) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CryptoError);
    expect((error as CryptoError).code).toBe(code);
    return;
  }
  throw new Error(`expected CryptoError ${code}`);
}

function flipByte(base64url: string, index: number): string {
  const bytes = fromBase64url(base64url);
  bytes[index] = (bytes[index] ?? 0) ^ 1;
  return toBase64url(bytes);
}

/** A conversation that has gone a few rounds, so both directions have ratcheted. */
function established() {
  const d = devices();
  const { a1, b1 } = d;
  receive(b1, a1.address, send(a1, [b1], 'hi').get(b1.address.clientHash));
  receive(a1, b1.address, send(b1, [a1], 'hello').get(a1.address.clientHash));
  return d;
}

describe('E2EDevice', () => {
  it('two users with two devices each hold a conversation with out-of-order delivery', () => {
    const { a1, a2, b1, b2 } = devices();
    // Each message goes to the peer's devices and to the sender's other device.
    const m1 = send(a1, [b1, b2, a2], 'Hi Bob, Alice here');
    for (const d of [b1, b2, a2]) expect(receive(d, a1.address, m1.get(d.address.clientHash))).toBe('Hi Bob, Alice here');

    const m2 = send(b2, [a1, a2, b1], 'Hey Alice');
    for (const d of [a1, a2, b1]) expect(receive(d, b2.address, m2.get(d.address.clientHash))).toBe('Hey Alice');

    const burst = ['one', 'two', 'three', 'four', 'five'].map((text) => ({ text, parts: send(a2, [b1, b2, a1], text) }));
    for (const i of [4, 1, 0, 3, 2]) {
      const { text, parts } = burst[i]!;
      expect(receive(b1, a2.address, parts.get(b1.address.clientHash))).toBe(text);
    }
    for (const { text, parts } of burst) {
      expect(receive(b2, a2.address, parts.get(b2.address.clientHash))).toBe(text);
      expect(receive(a1, a2.address, parts.get(a1.address.clientHash))).toBe(text);
    }

    // Replies cross in flight: both sides ratchet while the other's messages are still in transit.
    const fromB1 = send(b1, [a1, a2, b2], 'crossing 1');
    const fromA1 = send(a1, [b1, b2, a2], 'crossing 2');
    expect(receive(b1, a1.address, fromA1.get(b1.address.clientHash))).toBe('crossing 2');
    expect(receive(a1, b1.address, fromB1.get(a1.address.clientHash))).toBe('crossing 1');
    expect(receive(a2, b1.address, fromB1.get(a2.address.clientHash))).toBe('crossing 1');
    expect(receive(b2, a1.address, fromA1.get(b2.address.clientHash))).toBe('crossing 2');
  });

  it('rejects a tampered ciphertext with DECRYPT_FAILED, and later messages still decrypt', () => {
    const { a1, b1 } = established();
    const part = send(a1, [b1], 'secret').get(b1.address.clientHash)!;
    expectCode(() => b1.decrypt(a1.address, { ...part, ciphertext: flipByte(part.ciphertext, 30) }), 'DECRYPT_FAILED');
    expect(receive(b1, a1.address, part)).toBe('secret');
    expect(receive(b1, a1.address, send(a1, [b1], 'next').get(b1.address.clientHash))).toBe('next');
  });

  it('rejects a tampered header with DECRYPT_FAILED, and the untouched message still decrypts', () => {
    const { a1, b1 } = established();
    const part = send(a1, [b1], 'secret').get(b1.address.clientHash)!;
    // Byte 41 is the low byte of the message number: the forgery claims a later message.
    expectCode(() => b1.decrypt(a1.address, { ...part, header: flipByte(part.header, 41) }), 'DECRYPT_FAILED');
    expectCode(() => b1.decrypt(a1.address, { ...part, header: flipByte(part.header, 5) }), 'DECRYPT_FAILED');
    expectCode(() => b1.decrypt(a1.address, { ...part, header: flipByte(part.header, 0) }), 'MALFORMED');
    expect(receive(b1, a1.address, part)).toBe('secret');
    expect(receive(b1, a1.address, send(a1, [b1], 'next').get(b1.address.clientHash))).toBe('next');
  });

  it('rejects a replayed part with REPLAY, in the current chain, from skipped keys and from old chains', () => {
    const { a1, b1 } = established();
    const first = send(a1, [b1], 'first').get(b1.address.clientHash)!;
    const second = send(a1, [b1], 'second').get(b1.address.clientHash)!;
    expect(receive(b1, a1.address, second)).toBe('second');
    expect(receive(b1, a1.address, first)).toBe('first');
    expectCode(() => b1.decrypt(a1.address, first), 'REPLAY');
    expectCode(() => b1.decrypt(a1.address, second), 'REPLAY');

    receive(a1, b1.address, send(b1, [a1], 'turn').get(a1.address.clientHash));
    receive(b1, a1.address, send(a1, [b1], 'new chain').get(b1.address.clientHash));
    expectCode(() => b1.decrypt(a1.address, second), 'REPLAY');
    expect(receive(b1, a1.address, send(a1, [b1], 'still fine').get(b1.address.clientHash))).toBe('still fine');
  });

  it('a part delivered to the wrong device, or claimed from the wrong sender, fails to decrypt', () => {
    const { a1, a2, b1, b2 } = devices();
    for (const d of [b1, b2]) {
      receive(d, a1.address, send(a1, [d], 'setup').get(d.address.clientHash));
      receive(a1, d.address, send(d, [a1], 'ack').get(a1.address.clientHash));
    }
    const parts = send(a1, [b1, b2], 'for B1 and B2');
    expectCode(() => b2.decrypt(a1.address, parts.get(b1.address.clientHash)!), 'DECRYPT_FAILED');
    expectCode(() => b1.decrypt(a2.address, parts.get(b1.address.clientHash)!), 'NO_SESSION');

    // Same keys, other address: only the client hashes in the associated data differ.
    const impostor = E2EDevice.importState(b1.exportState().replace(b1.address.clientHash, 'bob-device-three-0003'));
    expectCode(() => impostor.decrypt(a1.address, parts.get(b1.address.clientHash)!), 'DECRYPT_FAILED');

    expect(receive(b1, a1.address, parts.get(b1.address.clientHash))).toBe('for B1 and B2');
    expect(receive(b2, a1.address, parts.get(b2.address.clientHash))).toBe('for B1 and B2');
  });

  it('repeats the X3DH data until the peer answers, so any first message can start the session', () => {
    const { a1, b1 } = devices();
    const m1 = send(a1, [b1], 'lost in transit').get(b1.address.clientHash)!;
    const m2 = send(a1, [b1], 'arrives first').get(b1.address.clientHash)!;
    expect(fromBase64url(m2.header).length).toBe(1246); // v2: the ML-KEM ciphertext rides along
    expect(receive(b1, a1.address, m2)).toBe('arrives first');
    expect(receive(b1, a1.address, m1)).toBe('lost in transit');
    receive(a1, b1.address, send(b1, [a1], 'reply').get(a1.address.clientHash));
    expect(fromBase64url(send(a1, [b1], 'plain').get(b1.address.clientHash)!.header).length).toBe(82); // v2: sealed ratchet fields
  });

  it('uses a one-time prekey once and deletes its private half', () => {
    const { a1, a2, b1 } = devices();
    const [oneTime] = b1.generateOneTimePrekeys(2);
    const bundle = b1.bundle(oneTime!.id);
    const [part] = a1.encryptFor([{ ...b1.address, bundle }], utf8ToBytes('first'));

    // A forged first message must not burn the prekey.
    expectCode(() => b1.decrypt(a1.address, { ...part!, ciphertext: flipByte(part!.ciphertext, 30) }), 'DECRYPT_FAILED');
    expect(b1.oneTimePrekeyIds()).toContain(oneTime!.id);

    expect(receive(b1, a1.address, part)).toBe('first');
    expect(b1.oneTimePrekeyIds()).not.toContain(oneTime!.id);
    const stored = JSON.parse(b1.exportState()) as { oneTimePrekeys: { id: number }[] };
    expect(stored.oneTimePrekeys.map((k) => k.id)).toEqual(b1.oneTimePrekeyIds());
    expectCode(() => b1.bundle(oneTime!.id), 'UNKNOWN_PREKEY');

    // Someone else handed the same bundle (a misbehaving server) cannot start a session with it.
    const [reuse] = a2.encryptFor([{ ...b1.address, bundle }], utf8ToBytes('reuse'));
    expectCode(() => b1.decrypt(a2.address, reuse!), 'UNKNOWN_PREKEY');
    expect(b1.consumeOneTimePrekey(oneTime!.id)).toBe(false);
  });

  it('needs a bundle for a device it has no session with', () => {
    const { a1, b1 } = devices();
    expectCode(() => a1.encryptFor([b1.address], utf8ToBytes('hi')), 'NO_SESSION');
    expectCode(() => b1.decrypt(a1.address, { header: 'AQA', ciphertext: 'AAAA' }), 'MALFORMED');
  });

  it('rejects a bundle with a bad signature, and encryptFor is all or nothing', () => {
    const { a1, a2, b1 } = devices();
    const good = recipient(a1, a2);
    const bundle = b1.bundle();
    const forged = { ...bundle, signedPrekey: { ...bundle.signedPrekey, pub: a2.bundle().signedPrekey.pub } };
    expectCode(() => a1.encryptFor([good, { ...b1.address, bundle: forged }], utf8ToBytes('hi')), 'BAD_SIGNATURE');
    expect(a1.peerIdentity(a2.address)).toBeUndefined();
    expect(a1.peerIdentity(b1.address)).toBeUndefined();
  });

  it('converges when both devices start a session at the same time', () => {
    const { a1, b1 } = devices();
    const fromA = send(a1, [b1], 'from A').get(b1.address.clientHash);
    const fromB = send(b1, [a1], 'from B').get(a1.address.clientHash);
    expect(receive(b1, a1.address, fromA)).toBe('from A');
    expect(receive(a1, b1.address, fromB)).toBe('from B');
    for (let round = 0; round < 3; round++) {
      expect(receive(b1, a1.address, send(a1, [b1], `a${round}`).get(b1.address.clientHash))).toBe(`a${round}`);
      expect(receive(a1, b1.address, send(b1, [a1], `b${round}`).get(a1.address.clientHash))).toBe(`b${round}`);
    }
    expect(a1.peerIdentity(b1.address)).toBe(b1.identityPub);
    expect(b1.peerIdentity(a1.address)).toBe(a1.identityPub);
  });

  it('accepts sessions made from a bundle fetched before a signed prekey rotation', () => {
    const { a1, b1 } = devices();
    const stale = b1.bundle();
    const rotated = b1.rotateSignedPrekey();
    expect(rotated.id).toBe(stale.signedPrekey.id + 1);
    const [part] = a1.encryptFor([{ ...b1.address, bundle: stale }], utf8ToBytes('old bundle'));
    expect(receive(b1, a1.address, part)).toBe('old bundle');
  });

  it('survives an export/import round trip mid-conversation, skipped keys included', () => {
    const { a1, b1 } = established();
    const early = send(a1, [b1], 'early').get(b1.address.clientHash)!;
    receive(b1, a1.address, send(a1, [b1], 'late').get(b1.address.clientHash));

    const a1Again = E2EDevice.importState(a1.exportState());
    const b1Again = E2EDevice.importState(b1.exportState());
    expect(b1Again.exportState()).toBe(b1.exportState());
    expect(b1Again.identityPub).toBe(b1.identityPub);
    expect(receive(b1Again, a1.address, early)).toBe('early');
    expect(receive(a1Again, b1.address, send(b1Again, [a1Again], 'back').get(a1.address.clientHash))).toBe('back');
    expect(receive(b1Again, a1.address, send(a1Again, [b1Again], 'forth').get(b1.address.clientHash))).toBe('forth');

    expectCode(() => E2EDevice.importState('{"v":1}'), 'MALFORMED');
    expectCode(() => E2EDevice.importState('not json'), 'MALFORMED');
  });

  it('produces parts, bundles and key uploads the protocol schemas accept', () => {
    const { a1, b1 } = devices();
    const [part] = a1.encryptFor([recipient(a1, b1)], new Uint8Array(MAX_PLAINTEXT_BYTES));
    expect(envelopePartSchema.safeParse(part).success).toBe(true);
    expect(part!.ciphertext.length).toBe(LIMITS.maxCiphertextChars);
    const [oneTime] = b1.generateOneTimePrekeys(1);
    expect(prekeyBundleSchema.safeParse(b1.bundle(oneTime!.id)).success).toBe(true);
    const upload = {
      ...b1.publicKeys(),
      oneTimePrekeys: b1.generateOneTimePrekeys(MAX_PREKEYS_PER_UPLOAD),
      oneTimeKemPrekeys: b1.generateOneTimeKemPrekeys(MAX_KEM_PREKEYS_PER_UPLOAD),
    };
    expect(keysUploadInput.safeParse(upload).success).toBe(true);
    expectCode(() => a1.encryptFor([b1.address], new Uint8Array(MAX_PLAINTEXT_BYTES + 1)), 'TOO_LARGE');
    expectCode(() => a1.encryptFor([b1.address, b1.address], utf8ToBytes('x')), 'MALFORMED');
  });
});
