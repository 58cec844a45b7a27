import { utf8ToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { decodeHeader, type E2EVersion } from './header.js';
import { generateKemPrekey } from './kem.js';
import { generateIdentity, generateSignedPrekey } from './keys.js';
import {
  MAX_SKIP,
  MAX_SKIPPED_KEYS,
  ratchetDecrypt,
  ratchetEncrypt,
  sessionFromJson,
  sessionToJson,
  type Session,
} from './ratchet.js';
import { seededRng } from './seeded-rng.js';
import { acceptSession, initiateSession, toBundle } from './x3dh.js';
import { codeOf } from './crypto-test-helpers.js';

const rng = seededRng('ratchet-test');
const AD = utf8ToBytes('addresses');
type Sealed = { header: Uint8Array; ciphertext: Uint8Array };

/** A sender and a receiver sharing one session; `send` returns the sealed messages. */
function conversation(version: E2EVersion) {
  const alice = generateIdentity(rng);
  const bob = generateIdentity(rng);
  const signedPrekey = generateSignedPrekey(bob, 1, rng);
  const kem = version === 2 ? generateKemPrekey(bob, 1, true, rng) : undefined;
  let sender = initiateSession(alice, toBundle(bob, signedPrekey, undefined, kem), rng).session;
  expect(sender.version).toBe(version);
  const first = ratchetEncrypt(sender, utf8ToBytes('hello'), AD, rng);
  sender = first.session;
  let receiver: Session = acceptSession(bob, signedPrekey.keyPair.secretKey, undefined, decodeHeader(first.header), kem?.seed);
  receiver = open(receiver, first).session;
  return {
    get sender() {
      return sender;
    },
    set sender(s: Session) {
      sender = s;
    },
    receiver,
    send(count: number): Sealed[] {
      return Array.from({ length: count }, (_, i) => {
        const sealed = ratchetEncrypt(sender, utf8ToBytes(`message ${i}`), AD, rng);
        sender = sealed.session;
        return sealed;
      });
    },
  };
}

function open(session: Session, m: Sealed) {
  return ratchetDecrypt(session, m.header, m.ciphertext, AD, rng);
}


// v2 is the header-encryption variant: the same limits must hold when chains are found by
// trying header keys instead of reading the ratchet key.
describe.each([1, 2] as const)('Double Ratchet, E2E v%i', (version) => {
  it(`refuses to skip more than ${MAX_SKIP} messages of one chain, leaving the session usable`, () => {
    const c = conversation(version);
    const messages = c.send(MAX_SKIP + 2);
    expect(codeOf(() => open(c.receiver, messages[MAX_SKIP + 1]!))).toBe('TOO_MANY_SKIPPED');
    const after = open(c.receiver, messages[0]!);
    expect(new TextDecoder().decode(after.plaintext)).toBe('message 0');
    const far = open(after.session, messages[MAX_SKIP]!);
    expect(far.session.skipped.size).toBe(MAX_SKIP - 1);
    expect(new TextDecoder().decode(open(far.session, messages[500]!).plaintext)).toBe('message 500');
  });

  it(`keeps at most ${MAX_SKIPPED_KEYS} skipped keys, dropping the oldest`, () => {
    const c = conversation(version);
    let receiver = c.receiver;
    const chains: Sealed[][] = [];
    for (let chain = 0; chain < 3; chain++) {
      const messages = c.send(MAX_SKIP + 1);
      receiver = open(receiver, messages[MAX_SKIP]!).session;
      chains.push(messages);
      // A reply turns the ratchet, so the next batch starts a new chain.
      const reply = ratchetEncrypt(receiver, utf8ToBytes('reply'), AD, rng);
      receiver = reply.session;
      c.sender = open(c.sender, reply).session;
    }
    expect(receiver.skipped.size).toBe(MAX_SKIPPED_KEYS);
    expect(codeOf(() => open(receiver, chains[0]![3]!))).toBe('REPLAY');
    expect(new TextDecoder().decode(open(receiver, chains[1]![999]!).plaintext)).toBe('message 999');
    expect(new TextDecoder().decode(open(receiver, chains[2]![0]!).plaintext)).toBe('message 0');
  });

  it('round-trips through JSON, skipped keys and pending X3DH data included', () => {
    const c = conversation(version);
    const [, second] = c.send(2);
    const receiver = open(c.receiver, second!).session;
    for (const session of [receiver, c.sender]) {
      const restored = sessionFromJson(JSON.parse(JSON.stringify(sessionToJson(session))));
      expect(restored).toEqual(session);
    }
    expect(c.sender.pendingInit).toBeDefined();
    expect(codeOf(() => sessionFromJson({ ...sessionToJson(receiver), rootKey: 'short' }))).toBe('MALFORMED');
    expect(codeOf(() => sessionFromJson({ ...sessionToJson(receiver), recvN: -1 }))).toBe('MALFORMED');
  });
});
