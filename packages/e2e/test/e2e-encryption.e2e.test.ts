import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createOmeChatClient, MemoryKeyStore, type ClientEvent, type OmeChatClient } from '@omechat/sdk';
import type { ChatId } from '@omechat/protocol';
import { spawnServer, uniqueName, waitFor } from './harness.js';

/**
 * A whole chat between two users with two devices each, then a search of everything the
 * server has — its database, its logs and its heap — for the plaintext. It finds none.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'omechat-e2e-'));
const clients: OmeChatClient[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  rmSync(dataDir, { recursive: true, force: true });
});

function device(url: string) {
  const client = createOmeChatClient({ url, WebSocket: WebSocket, keyStore: new MemoryKeyStore(), retryDelayMs: () => 50 });
  clients.push(client);
  const events: ClientEvent[] = [];
  client.on((e) => events.push(e));
  const texts = () => events.flatMap((e) => (e.type === 'message' ? [e.text] : []));
  return { client, events, texts };
}

async function person(url: string, age: number) {
  const username = uniqueName('e2e');
  const first = device(url);
  const { secret } = await first.client.account.register({ username, age });
  await first.client.account.login({ username, secret });
  const second = device(url);
  await second.client.account.login({ username, secret });
  await Promise.all([first.client.encryptionReady(), second.client.encryptionReady()]);
  return { first, second, username };
}

describe('end-to-end encryption', () => {
  it('relays a two-device chat that the server cannot read, anywhere', async () => {
    const server = await spawnServer(dataDir, 0, 'trace');
    const alice = await person(server.url, 30);
    const bob = await person(server.url, 31);
    await alice.first.client.match.start({ tolerance: 2 });
    await bob.first.client.match.start({ tolerance: 2 });
    await waitFor(() => alice.first.events.some((e) => e.type === 'match.found'), 'match');
    const found = alice.first.events.find((e) => e.type === 'match.found');
    const chatId = (found as { chatId: ChatId }).chatId;

    const script: [typeof alice.first, string][] = [
      [alice.first, 'PLAINTEXT-alpha: meet at the old lighthouse'],
      [bob.second, 'PLAINTEXT-bravo: bring the blue umbrella'],
      [alice.second, 'PLAINTEXT-charlie: 7pm, do not be late'],
      [bob.first, 'PLAINTEXT-delta: ok 👍 ünïcödé'],
    ];
    for (const [from, text] of script) await from.client.chat.send(chatId, text);
    const all = script.map(([, text]) => text);
    // Every device sees the whole conversation: received ones decrypted, own ones as sent.
    for (const d of [alice.first, alice.second, bob.first, bob.second]) {
      await waitFor(() => d.texts().length === all.length, 'all messages on every device');
      expect(d.texts()).toEqual(all);
    }
    expect(alice.first.events.filter((e) => e.type === 'message.undecryptable')).toHaveLength(0);

    // Both people see the same safety code.
    const code = await alice.first.client.chat.safetyCode(chatId);
    expect(code).toMatch(/^(\d{5} ){11}\d{5}$/);
    expect(await bob.second.client.chat.safetyCode(chatId)).toBe(code);

    // A ciphertext that was tampered with is reported, and later messages still decrypt.
    const raw = alice.first.client;
    const bobFirstHash = bob.first.client.credentials!.clientHash;
    await raw.message.send({ chatId, envelope: { v: 1, parts: [{ to: bobFirstHash, header: 'AAAA', ciphertext: 'AAAA' }] } });
    await waitFor(() => bob.first.events.some((e) => e.type === 'message.undecryptable'), 'an undecryptable message');
    await alice.first.client.chat.send(chatId, 'PLAINTEXT-echo: still fine');
    await waitFor(() => bob.first.texts().includes('PLAINTEXT-echo: still fine'), 'the next message');

    // Now look for the plaintext in everything the server holds.
    process.kill(server.pid, 'SIGUSR2');
    await waitFor(() => readdirSync(dataDir).some((f) => f.endsWith('.heapsnapshot')), 'a heap snapshot', 15_000);
    const snapshotFile = readdirSync(dataDir).find((f) => f.endsWith('.heapsnapshot'))!;
    let snapshot = '';
    await waitFor(() => {
      snapshot = readFileSync(join(dataDir, snapshotFile), 'utf8');
      return snapshot.trimEnd().endsWith('}');
    }, 'the heap snapshot to be complete', 15_000);
    await server.stop();
    const database = readdirSync(dataDir)
      .filter((f) => f.startsWith('omechat.sqlite'))
      .map((f) => readFileSync(join(dataDir, f)).toString('utf8'))
      .join('\n');
    const logs = server.output();

    // The searches can find things: what the server is meant to know is there.
    expect(snapshot.includes(bobFirstHash), 'the heap holds live connections').toBe(true);
    expect(database.includes(bob.username), 'the database holds usernames').toBe(true);
    expect(logs.includes('omechat listening'), 'the logs were captured').toBe(true);
    for (const text of [...all, 'PLAINTEXT-echo: still fine']) {
      for (const needle of [text, text.slice(0, 16), 'lighthouse', 'umbrella']) {
        expect(snapshot.includes(needle), `heap holds "${needle}"`).toBe(false);
        expect(database.includes(needle), `database holds "${needle}"`).toBe(false);
        expect(logs.includes(needle), `logs hold "${needle}"`).toBe(false);
      }
    }
  }, 60_000);
});
