import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createOmeChatClient, MemoryKeyStore, type ClientEvent, type KeyStore, type OmeChatClient } from '@omechat/sdk';
import type { ChatId, Envelope } from '@omechat/protocol';
import { decodeHeader, E2EDevice, fromBase64url } from '@omechat/sdk/testing';
import { startTestServer, uniqueName, waitFor, type TestServer } from './harness.js';
import { rawClient } from './raw-client.js';

/**
 * E2E v2 against the real server on a real socket: PQXDH sessions and padded ciphertexts as
 * the server stores them, a v1 peer (visible downgrade), a server that strips KEM keys
 * (refused), and a peer whose identity key changes (a warning).
 */
let t: TestServer;
const clients: OmeChatClient[] = [];
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t.destroy();
});

/** A key store whose first state is written by the test once the device's address is known. */
class PresetKeyStore implements KeyStore {
  readonly inner = new MemoryKeyStore();
  #preset: Promise<string | null>;
  #resolve!: (state: string | null) => void;
  #first = true;
  constructor() {
    this.#preset = new Promise((resolve) => (this.#resolve = resolve));
  }
  preset(state: string | null): void {
    this.#resolve(state);
  }
  async load() {
    if (!this.#first) return this.inner.load();
    this.#first = false;
    return this.#preset;
  }
  save(state: string) {
    return this.inner.save(state);
  }
  clear() {
    return this.inner.clear();
  }
}

/** A signed-in SDK device; `version: 1` makes it drive an engine capped at E2E v1 (an old client). */
async function person(version: 1 | 2 = 2) {
  const keyStore = new PresetKeyStore();
  const client = createOmeChatClient({ url: t.url, WebSocket, keyStore, retryDelayMs: () => 50 });
  clients.push(client);
  const events: ClientEvent[] = [];
  client.on((e) => events.push(e));
  const username = uniqueName('v2');
  const { userHash, secret } = await client.account.register({ username, age: 30 });
  const { clientHash, accessToken } = await client.account.login({ username, secret });
  keyStore.preset(version === 1 ? E2EDevice.create({ userHash, clientHash }, { maxVersion: 1 }).exportState() : null);
  await Promise.all([client.encryptionReady(), client.eventsLive()]);
  const texts = () => events.flatMap((e) => (e.type === 'message' ? [e.text] : []));
  return { client, events, texts, userHash, credentials: { clientHash, accessToken }, keyStore };
}
type Person = Awaited<ReturnType<typeof person>>;

async function match(a: Person, b: Person): Promise<ChatId> {
  await a.client.match.start({ tolerance: 0 });
  await b.client.match.start({ tolerance: 0 });
  await waitFor(() => a.events.some((e) => e.type === 'match.found') && b.events.some((e) => e.type === 'match.found'), 'the match');
  return (a.events.find((e) => e.type === 'match.found') as { chatId: ChatId }).chatId;
}

/** The envelopes of a chat exactly as the server's database holds them. */
function storedEnvelopes(chatId: ChatId): Envelope[] {
  const db = new Database(join(t.dataDir, 'omechat.sqlite'), { readonly: true });
  try {
    const rows = db.prepare('SELECT envelope FROM messages WHERE chat_id = ? ORDER BY seq').all(chatId) as { envelope: string }[];
    return rows.map((r) => JSON.parse(r.envelope) as Envelope);
  } finally {
    db.close();
  }
}

describe('E2E v2', () => {
  it('the database holds padded PQXDH ciphertext it cannot read: 1, 20 and 120 characters give one size', async () => {
    const alice = await person();
    const bob = await person();
    const chatId = await match(alice, bob);
    const texts = ['A', 'PLAINTEXT-twenty-chr', `PLAINTEXT-${'x'.repeat(110)}`];
    expect(texts.map((s) => s.length)).toEqual([1, 20, 120]);
    for (const text of texts) await alice.client.chat.send(chatId, text);
    await waitFor(() => bob.texts().length === 3, 'three messages');
    expect(bob.texts()).toEqual(texts);
    expect(alice.client.chat.encryption(chatId)).toEqual({ version: 2, downgraded: false });
    expect(bob.client.chat.encryption(chatId)).toEqual({ version: 2, downgraded: false });

    const stored = storedEnvelopes(chatId).map((e) => e.parts.find((p) => p.to === bob.credentials.clientHash)!);
    expect(stored).toHaveLength(3);
    const headers = stored.map((p) => fromBase64url(p.header));
    // Every message so far carries the PQXDH data: v2, with the 1,088-byte ML-KEM ciphertext,
    // and the ratchet key and counters sealed (bytes 2-82 differ from message to message).
    for (const header of headers) {
      expect(header.length).toBe(1246);
      expect(decodeHeader(header)).toMatchObject({ version: 2, init: { kem: { prekeyId: expect.any(Number) } } });
    }
    expect(new Set(headers.map((h) => Buffer.from(h.subarray(2, 82)).toString('hex'))).size).toBe(3);
    const sizes = stored.map((p) => fromBase64url(p.ciphertext).length);
    expect(sizes).toEqual([200, 200, 200]); // v1 stored 41, 60 and 160 bytes
    const database = readdirSync(t.dataDir)
      .filter((f) => f.startsWith('omechat.sqlite'))
      .map((f) => readFileSync(join(t.dataDir, f)).toString('utf8'))
      .join('\n');
    for (const needle of ['PLAINTEXT', 'twenty-chr', 'xxxxxxxxxx']) expect(database.includes(needle), needle).toBe(false);

    // The one-time KEM prekey Alice used was handed out once: Bob's count on the server fell.
    const status = rawClient(t.url, bob.credentials);
    try {
      const s = (await status.client.keys!.status!.query()) as { oneTimeKemPrekeys: number; hasLastResortKemPrekey: boolean };
      expect(s.hasLastResortKemPrekey).toBe(true);
      expect(s.oneTimeKemPrekeys).toBe(19);
    } finally {
      await status.close();
    }
  });

  it('talks v1 to a v1 client, and says so: an event and a flag on the chat', async () => {
    const alice = await person();
    const old = await person(1);
    const chatId = await match(alice, old);
    await alice.client.chat.send(chatId, 'to an old client');
    await waitFor(() => old.texts().includes('to an old client'), 'the v1 client to read it');
    await old.client.chat.send(chatId, 'from an old client');
    await waitFor(() => alice.texts().includes('from an old client'), 'the reply');
    expect(alice.events.filter((e) => e.type === 'encryption.downgraded')).toEqual([
      { type: 'encryption.downgraded', chatId, userHash: old.userHash, clientHash: old.credentials.clientHash, version: 1 },
    ]);
    expect(alice.client.chat.encryption(chatId)).toEqual({ version: 1, downgraded: true });
    const stored = storedEnvelopes(chatId)[0]!.parts[0]!;
    expect(decodeHeader(fromBase64url(stored.header)).version).toBe(1);
  });

  it('refuses a v2-capable peer\'s v1 handshake when the server stripped the KEM prekey from the bundle', async () => {
    const alice = await person();
    const bob = await person();
    const chatId = await match(alice, bob);
    // Alice's own device, driven by hand to act on a bundle as a malicious server hands it out.
    const device = E2EDevice.importState((await alice.keyStore.load())!);
    const raw = rawClient(t.url, alice.credentials);
    const { devices } = (await raw.client.keys!.bundles!.mutate({ userHash: bob.userHash })) as {
      devices: { clientHash: string; bundle: Record<string, unknown> }[];
    };
    await raw.close();
    const { kemPrekey, ...stripped } = devices[0]!.bundle;
    expect(kemPrekey).toBeDefined(); // the server had it; a malicious one would drop it
    const parts = device.encryptFor(
      [{ userHash: bob.userHash, clientHash: devices[0]!.clientHash, bundle: stripped as never }],
      new TextEncoder().encode('PLAINTEXT-downgraded'),
    );
    expect(device.sessionVersion({ userHash: bob.userHash, clientHash: devices[0]!.clientHash })).toBe(1);
    await alice.client.message.send({ chatId, envelope: { v: 1, parts: parts.map((p) => ({ ...p, to: p.to as never })) } });
    await waitFor(() => bob.events.some((e) => e.type === 'message.undecryptable'), 'the refusal');
    expect(bob.events.find((e) => e.type === 'message.undecryptable')).toMatchObject({ code: 'DOWNGRADE' });
    expect(bob.texts()).toEqual([]);
  });

  it('warns when a peer device\'s identity key differs from the one pinned at first contact', async () => {
    const alice = await person();
    const bob = await person();
    const chatId = await match(alice, bob);
    await alice.client.chat.send(chatId, 'hello');
    await waitFor(() => bob.texts().includes('hello'), 'the first message');
    const code = await alice.client.chat.safetyCode(chatId);
    expect(alice.events.filter((e) => e.type === 'peer.identityChanged')).toEqual([]);

    // The server (here: its database, edited behind its back) now shows another key for Bob's device.
    const other = E2EDevice.create({ userHash: bob.userHash, clientHash: bob.credentials.clientHash });
    const db = new Database(join(t.dataDir, 'omechat.sqlite'));
    const before = db.prepare('SELECT signing_pub FROM device_keys WHERE client_hash = ?').pluck().get(bob.credentials.clientHash) as string;
    db.prepare('UPDATE device_keys SET signing_pub = ? WHERE client_hash = ?').run(other.identityPub, bob.credentials.clientHash);
    db.close();

    expect(await alice.client.chat.safetyCode(chatId)).not.toBe(code);
    expect(alice.events.filter((e) => e.type === 'peer.identityChanged')).toEqual([
      { type: 'peer.identityChanged', userHash: bob.userHash, clientHash: bob.credentials.clientHash, previousIdentity: before, identity: other.identityPub },
    ]);
    await alice.client.chat.safetyCode(chatId); // pinned now: one change, one warning
    expect(alice.events.filter((e) => e.type === 'peer.identityChanged')).toHaveLength(1);
  });
});
