import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { solvePow, type PowChallenge } from './pow.js';

/**
 * "A first session" of docs/protocol.md, as a real exchange: Ann's frames, both ways, against
 * a server with its default settings (Ben, her stranger, is driven alongside and not shown).
 * `scripts/record-first-session.ts` writes one run to packages/protocol/scripts/first-session.json,
 * from which the doc is generated; test/first-session.test.ts runs it again against a fresh
 * default server and compares the shapes, so the walk-through cannot drift from the server.
 */

export interface RecordedFrame {
  /** → client to server, ← server to client. */
  dir: '→' | '←';
  frame: unknown;
}
export interface RecordedStep {
  title: string;
  url: string;
  frames: RecordedFrame[];
}

type Frame = { id?: unknown; result?: { type?: string; id?: string; data?: unknown }; error?: unknown; method?: string };
type Batch = { id: string; events: { type: string; [k: string]: unknown }[] };
/** The events of a subscription item: `result.data` is `{id, data: {events}}`. */
const eventsOf = (f: Frame): Batch['events'] => (f.result?.data as { data?: { events?: Batch['events'] } } | undefined)?.data?.events ?? [];

const WAIT_MS = 30_000;

/** One WebSocket, every frame it sent and received kept in order. */
class Wire {
  readonly #ws: WebSocket;
  readonly #inbox: Frame[] = [];
  readonly #waiters = new Set<() => void>();
  readonly log: RecordedFrame[] = [];
  readonly opened: Promise<void>;
  readonly #record: boolean;

  constructor(url: string, record: boolean) {
    this.#record = record;
    this.#ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.#ws.once('open', () => resolve());
      this.#ws.once('error', reject);
    });
    this.#ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text === 'PING') return void this.#ws.send('PONG');
      if (text === 'PONG') return;
      const frame = JSON.parse(text) as Frame;
      this.#inbox.push(frame);
      if (this.#record) this.log.push({ dir: '←', frame });
      for (const wake of this.#waiters) wake();
    });
  }

  send(frame: unknown): void {
    if (this.#record) this.log.push({ dir: '→', frame });
    this.#ws.send(JSON.stringify(frame));
  }

  /** The first frame received (and not taken yet) that matches, taken. */
  async take(match: (f: Frame) => boolean, what: string): Promise<Frame> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const i = this.#inbox.findIndex(match);
      if (i >= 0) return this.#inbox.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error(`first session: no ${what} within ${WAIT_MS} ms`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiters.delete(wake);
          resolve();
        };
        this.#waiters.add(wake);
        setTimeout(wake, 200);
      });
    }
  }

  /** Sends a call and returns its result's data (throws on an error frame). */
  async call(id: number, method: 'query' | 'mutation', path: string, input?: unknown): Promise<unknown> {
    this.send({ id, method, params: input === undefined ? { path } : { path, input } });
    const reply = await this.take((f) => f.id === id, `reply to ${path}`);
    if (reply.error) throw new Error(`first session: ${path} failed: ${JSON.stringify(reply.error)}`);
    return reply.result?.data;
  }

  /** The next stream item of subscription `id` holding an event of this type. */
  async item(id: number, type: string): Promise<Batch> {
    const frame = await this.take((f) => f.id === id && f.result?.type === 'data' && eventsOf(f).some((e) => e.type === type), `${type} item`);
    return { id: frame.result!.id!, events: eventsOf(frame) };
  }

  close(): void {
    this.#ws.close();
  }
}

const key = () => randomBytes(32).toString('base64url');
const keysUpload = () => ({
  identity: { signingPub: key(), dhPub: key() },
  signedPrekey: { id: 1, pub: key(), signature: randomBytes(64).toString('base64url') },
  oneTimePrekeys: [{ id: 2, pub: key() }],
});
/** The ciphertext a real client makes with docs/e2e.md; the server stores it unread. */
const envelope = (to: string, text: string) => ({
  v: 1,
  parts: [{ to, header: Buffer.from(`ratchet header for ${to}`).toString('base64url'), ciphertext: Buffer.from(text).toString('base64url') }],
});

interface Account {
  username: string;
  secret: string;
  creds: { clientHash: string; accessToken: string };
  userHash: string;
}

async function signUp(wire: Wire, username: string): Promise<Account> {
  const challenge = (await wire.call(1, 'query', 'account.challenge')) as PowChallenge | null;
  const pow = challenge ? { challenge, solution: await solvePow(challenge) } : undefined;
  const { secret } = (await wire.call(2, 'mutation', 'account.register', { username, age: 30, ...(pow ? { pow } : {}) })) as { secret: string };
  const login = (await wire.call(3, 'mutation', 'account.login', { username, secret, deviceName: 'phone' })) as { userHash: string; clientHash: string; accessToken: string };
  return { username, secret, userHash: login.userHash, creds: { clientHash: login.clientHash, accessToken: login.accessToken } };
}

async function open(url: string, record: boolean, creds?: Account['creds']): Promise<Wire> {
  const wire = new Wire(creds ? `${url}?connectionParams=1` : url, record);
  await wire.opened;
  if (creds) wire.send({ method: 'connectionParams', data: creds });
  return wire;
}

/** Runs the session against `url` (ws://host:port/trpc) and returns Ann's frames, step by step. */
export async function recordFirstSession(url: string): Promise<RecordedStep[]> {
  const tag = randomBytes(3).toString('hex');
  const wires: Wire[] = [];
  const steps: RecordedStep[] = [];
  const step = (title: string, wire: Wire, path: string) => {
    steps.push({ title, url: path, frames: wire.log.splice(0) });
  };
  try {
    const anonymous = await open(url, true);
    wires.push(anonymous);
    const ann = await signUp(anonymous, `ann_${tag}`);
    step('register', anonymous, '/trpc');

    const annWire = await open(url, true, ann.creds);
    wires.push(annWire);
    // Two calls in one frame: two reply frames.
    annWire.send([
      { id: 1, method: 'query', params: { path: 'account.me' } },
      { id: 2, method: 'mutation', params: { path: 'keys.upload', input: keysUpload() } },
    ]);
    await annWire.take((f) => f.id === 1, 'account.me');
    await annWire.take((f) => f.id === 2, 'keys.upload');
    annWire.send({ id: 3, method: 'subscription', params: { path: 'events.stream', input: {} } });
    await annWire.take((f) => f.id === 3 && f.result?.type === 'started', 'started');
    await annWire.take((f) => f.id === 3 && f.result?.type === 'data', 'the first (empty) batch');
    await annWire.call(4, 'mutation', 'match.start', { tolerance: 2 });

    // Ben, not shown: signs up, publishes keys, looks for someone.
    const benAnon = await open(url, false);
    wires.push(benAnon);
    const ben = await signUp(benAnon, `ben_${tag}`);
    const benWire = await open(url, false, ben.creds);
    wires.push(benWire);
    await benWire.call(1, 'mutation', 'keys.upload', keysUpload());
    benWire.send({ id: 2, method: 'subscription', params: { path: 'events.stream', input: {} } });
    await benWire.take((f) => f.id === 2 && f.result?.type === 'data', "Ben's first batch");
    await benWire.call(3, 'mutation', 'match.start', { tolerance: 2 });

    const found = await annWire.item(3, 'match.found');
    const chatId = String(found.events[0]?.chatId);
    step('match', annWire, '/trpc?connectionParams=1');

    const bundles = (await annWire.call(5, 'mutation', 'keys.bundles', { userHash: ben.userHash })) as { devices: { clientHash: string }[] };
    const to = bundles.devices[0]!.clientHash;
    await annWire.call(6, 'mutation', 'message.send', { chatId, envelope: envelope(to, 'hi ben'), clientMessageId: 'ann-1' });
    await benWire.item(2, 'message.new');
    await annWire.item(3, 'message.delivered');
    await benWire.call(4, 'mutation', 'message.send', { chatId, envelope: envelope(ann.creds.clientHash, 'hi ann'), clientMessageId: 'ben-1' });
    await annWire.item(3, 'message.new');
    step('chat', annWire, '/trpc?connectionParams=1');

    // Ann's connection drops; she resumes after the match.found item.
    annWire.close();
    const again = await open(url, true, ann.creds);
    wires.push(again);
    again.send({ id: 1, method: 'subscription', params: { path: 'events.stream', input: {}, lastEventId: found.id } });
    await again.take((f) => f.id === 1 && f.result?.type === 'started', 'started');
    await again.take((f) => f.id === 1 && f.result?.type === 'data', 'the first (empty) batch');
    await again.item(1, 'message.new');
    again.send({ id: 1, method: 'subscription.stop' });
    await again.take((f) => f.id === 1 && f.result?.type === 'stopped', 'stopped');
    step('resume', again, '/trpc?connectionParams=1');
    return steps;
  } finally {
    for (const wire of wires) wire.close();
  }
}

/** Keys whose string values are part of the protocol (names, kinds), not data. */
const KEPT = new Set(['method', 'type', 'path', 'algorithm', 'reason', 'deviceName']);

/**
 * What must not drift: every frame's structure (keys, kinds of values) and its protocol
 * words (methods, paths, event types), not the hashes, tokens, times and ids of one run.
 */
export function shapeOf(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => shapeOf(v));
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return key === 'id' ? value : '<number>';
  if (typeof value === 'string') return KEPT.has(key) ? value : '<string>';
  if (typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, shapeOf((value as Record<string, unknown>)[k], k)]));
  }
  return typeof value;
}
