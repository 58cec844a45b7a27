import { randomBytes } from 'node:crypto';
import type { CallResult, ErrorShape, RawClient, Subscription } from './client.js';
import type { Contract } from './contract.js';
import { solvePow, type PowChallenge } from './pow.js';

/**
 * The checks, in order. Later checks build on the accounts, devices and chat of earlier ones
 * (kept in `State`); a check whose prerequisite failed fails too, saying which.
 */

export interface Context {
  url: string;
  contract: Contract;
  /** Procedures that have answered with data so far (each reply checked against its schema). */
  answered: ReadonlySet<string>;
  /** Prints a line under the running check that does not fail it. */
  note(message: string): void;
  /** The moderators' token, when the suite was given one. */
  adminToken?: string | undefined;
  /** Opens a connection (anonymous without params); closed when the suite ends. */
  open(params?: Record<string, string> | null): Promise<RawClient>;
}

export interface Check {
  name: string;
  /** Runs only when the suite has the server's admin token (`--admin-token`). */
  needsAdmin?: boolean;
  run(ctx: Context, state: State): Promise<void>;
}

interface Device {
  clientHash: string;
  accessToken: string;
}
interface User {
  username: string;
  age: number;
  userHash: string;
  secret: string;
}

/** What the checks share. Every field is set by one check and read by later ones. */
export class State {
  readonly #values = new Map<string, unknown>();
  set<T>(key: string, value: T): T {
    this.#values.set(key, value);
    return value;
  }
  get<T>(key: string): T {
    if (!this.#values.has(key)) throw new Error(`needs "${key}" from an earlier check, which failed`);
    return this.#values.get(key) as T;
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function expectCode(error: ErrorShape, ...codes: string[]) {
  assert(codes.includes(error.data.omechatCode), `expected ${codes.join(' or ')}, got ${error.data.omechatCode} (${error.message})`);
}

/** Names no other run uses: 3-32 characters of A-Z a-z 0-9 _ . - */
const runId = randomBytes(4).toString('hex');
const nameFor = (role: string) => `cf${runId}_${role}`;

/**
 * Registration. A server may require a proof of work before `account.register`:
 * `account.challenge` hands out a challenge (null when none is needed), solved here as
 * docs/protocol.md specifies it (src/pow.ts, no ALTCHA library), and sent back as `pow`.
 */
async function registrationProof(conn: RawClient): Promise<Record<string, unknown>> {
  const challenge = (await conn.ok('query', 'account.challenge', undefined)) as PowChallenge | null;
  if (!challenge) return {};
  return { pow: { challenge, solution: await solvePow(challenge) } };
}

async function register(conn: RawClient, username: string, age: number): Promise<CallResult> {
  return conn.call('mutation', 'account.register', { username, age, ...(await registrationProof(conn)) });
}

async function newUser(ctx: Context, state: State, role: string, age: number): Promise<User> {
  const anon = await ctx.open();
  const username = nameFor(role);
  const result = await register(anon, username, age);
  if (!result.ok) throw new Error(`account.register failed: ${result.error.data.omechatCode} ${result.error.message}`);
  const { userHash, secret } = result.data as { userHash: string; secret: string };
  return state.set(`user:${role}`, { username, age, userHash, secret });
}

async function login(ctx: Context, state: State, role: string, deviceName: string): Promise<Device> {
  const user = state.get<User>(`user:${role}`);
  const anon = await ctx.open();
  const out = (await anon.ok('mutation', 'account.login', { username: user.username, secret: user.secret, deviceName })) as Device & { userHash: string };
  assert(out.userHash === user.userHash, 'account.login returned another userHash');
  return state.set(`device:${role}:${deviceName}`, { clientHash: out.clientHash, accessToken: out.accessToken });
}

/** A signed-in connection of a device with its event stream live. */
async function online(ctx: Context, state: State, key: string, device: Device) {
  const conn = await ctx.open({ clientHash: device.clientHash, accessToken: device.accessToken });
  const stream = conn.subscribe('events.stream', {});
  await stream.live();
  return state.set(`online:${key}`, { conn, stream, device });
}
type Online = Awaited<ReturnType<typeof online>>;

function envelopeFor(to: string[], text: string) {
  return {
    v: 1,
    parts: to.map((clientHash) => ({
      to: clientHash,
      header: Buffer.from(`header for ${clientHash}`).toString('base64url'),
      ciphertext: Buffer.from(text).toString('base64url'),
    })),
  };
}

const key = () => randomBytes(32).toString('base64url');

const messageWith = (messageId: string) => (e: Record<string, unknown>) => (e.message as { messageId: string }).messageId === messageId;
const countOf = (stream: Subscription, messageId: string) => stream.of('message.new', messageWith(messageId)).length;

interface Ack {
  messageId: string;
  seq: number;
  sentAt: number;
}

async function send(from: Online, chatId: string, to: string[], text: string, clientMessageId: string): Promise<Ack> {
  return (await from.conn.ok('mutation', 'message.send', { chatId, envelope: envelopeFor(to, text), clientMessageId })) as Ack;
}

export const CHECKS: Check[] = [
  {
    name: 'meta.version: the server speaks this major version of the protocol',
    async run(ctx) {
      const anon = await ctx.open();
      const { protocol } = (await anon.ok('query', 'meta.version')) as { protocol: string };
      const [major, minor] = protocol.split('.').map(Number) as [number, number];
      const [ownMajor, ownMinor] = ctx.contract.version.split('.').map(Number) as [number, number];
      assert(major === ownMajor, `server speaks ${protocol}, this suite ${ctx.contract.version}`);
      if (minor > ownMinor) {
        ctx.contract.allowAddedFields();
        ctx.note(`the server's protocol ${protocol} is newer than this suite's: fields it adds are not failures`);
      }
    },
  },
  {
    name: 'GET /healthz reports the same protocol version',
    async run(ctx) {
      const http = new URL(ctx.url.replace(/^ws/, 'http'));
      const res = await fetch(`${http.origin}/healthz`);
      assert(res.status === 200, `/healthz answered ${res.status}`);
      const body = (await res.json()) as { protocol?: string };
      assert(body.protocol?.split('.')[0] === ctx.contract.version.split('.')[0], `/healthz says protocol ${body.protocol}`);
    },
  },
  {
    name: 'account.register: accounts are created with a 64-character secret',
    async run(ctx, state) {
      for (const [role, age] of [['alice', 40], ['bob', 41], ['minor', 17], ['adult', 18], ['older', 21]] as const) {
        const user = await newUser(ctx, state, role, age);
        assert(user.secret.length === 64, 'the secret is not 64 characters');
      }
    },
  },
  {
    name: 'account.register: a taken username, in any case, is refused with USERNAME_TAKEN',
    async run(ctx, state) {
      const alice = state.get<User>('user:alice');
      const anon = await ctx.open();
      const result = await register(anon, alice.username.toUpperCase(), 30);
      assert(!result.ok, 'a second account got the same name');
      expectCode(result.error, 'USERNAME_TAKEN');
    },
  },
  {
    name: 'account.login: devices sign in, and their credentials open a signed-in connection',
    async run(ctx, state) {
      await login(ctx, state, 'alice', 'phone');
      await login(ctx, state, 'alice', 'laptop');
      for (const role of ['bob', 'minor', 'adult', 'older']) await login(ctx, state, role, 'phone');
      const phone = state.get<Device>('device:alice:phone');
      const conn = await ctx.open({ ...phone });
      const me = (await conn.ok('query', 'account.me')) as { userHash: string; clientHash: string; username: string; age: number };
      const alice = state.get<User>('user:alice');
      assert(me.userHash === alice.userHash && me.clientHash === phone.clientHash, 'account.me names another account or device');
      assert(me.username === alice.username && me.age === alice.age, 'account.me has another username or age');
    },
  },
  {
    name: 'account.login: a wrong secret and an unknown username both fail with INVALID_CREDENTIALS',
    async run(ctx, state) {
      const alice = state.get<User>('user:alice');
      const anon = await ctx.open();
      const wrongSecret = alice.secret.slice(0, -1) + (alice.secret.endsWith('A') ? 'B' : 'A');
      expectCode(await anon.fails('mutation', 'account.login', { username: alice.username, secret: wrongSecret }), 'INVALID_CREDENTIALS');
      expectCode(await anon.fails('mutation', 'account.login', { username: nameFor('nobody'), secret: alice.secret }), 'INVALID_CREDENTIALS');
    },
  },
  {
    name: 'unauthorised: every device procedure refuses an anonymous connection with UNAUTHORIZED',
    async run(ctx) {
      const anon = await ctx.open();
      const procedures = Object.entries(ctx.contract.index.procedures);
      for (const [path, p] of procedures.filter(([, p]) => p.auth === 'device')) {
        if (p.kind === 'subscription') {
          const sub = anon.subscribe(path, p.example.input);
          await anon.until(() => sub.error !== null || sub.items.length > 0, `${path} to answer`);
          assert(sub.error, `${path} streamed to an anonymous connection`);
          expectCode(sub.error, 'UNAUTHORIZED');
        } else {
          expectCode(await anon.fails(p.kind, path, p.example.input), 'UNAUTHORIZED');
        }
      }
    },
  },
  {
    name: 'unauthorised: moderator procedures refuse anonymous and device connections',
    async run(ctx, state) {
      const device = await ctx.open({ ...state.get<Device>('device:alice:phone') });
      const anon = await ctx.open();
      for (const [path, p] of Object.entries(ctx.contract.index.procedures).filter(([, p]) => p.auth === 'admin')) {
        for (const conn of [anon, device]) expectCode(await conn.fails(p.kind as 'query', path, p.example.input), 'UNAUTHORIZED', 'FORBIDDEN');
      }
    },
  },
  {
    name: 'unauthorised: credentials of no device are answered UNAUTHORIZED, then closed with 4001',
    async run(ctx, state) {
      const phone = state.get<Device>('device:alice:phone');
      const forged = await ctx.open({ clientHash: phone.clientHash, accessToken: 'A'.repeat(43) });
      expectCode(await forged.fails('query', 'account.me'), 'UNAUTHORIZED');
      const { code } = await forged.waitClosed();
      assert(code === ctx.contract.closeCodes.UNAUTHORIZED, `closed with ${code}`);
    },
  },
  {
    name: 'bad input: wrong, missing, unknown and oversized fields are refused with a typed code naming the field',
    async run(ctx, state) {
      const anon = await ctx.open();
      const username = nameFor('bad');
      const cases: [unknown, string, string][] = [
        [{ username: 'ab', age: 20 }, 'BAD_REQUEST', 'username'],
        [{ username, age: '20' }, 'BAD_REQUEST', 'age'],
        [{ username, age: 12 }, 'BAD_REQUEST', 'age'],
        [{ username }, 'BAD_REQUEST', 'age'],
        [{ username, age: 20, admin: true }, 'BAD_REQUEST', ''],
        [{ username: 'x'.repeat(1000), age: 20 }, 'PAYLOAD_TOO_LARGE', 'username'],
        ['alice', 'BAD_REQUEST', ''],
      ];
      for (const [input, code, field] of cases) {
        const error = await anon.fails('mutation', 'account.register', input);
        expectCode(error, code);
        const fields = (error.data.details.fields ?? []) as string[];
        if (field) assert(fields.includes(field), `${JSON.stringify(input)}: details.fields is ${JSON.stringify(fields)}, not naming ${field}`);
      }
      const phone = await ctx.open({ ...state.get<Device>('device:alice:phone') });
      expectCode(await phone.fails('query', 'account.me', {}), 'BAD_REQUEST');
      expectCode(await phone.fails('mutation', 'match.start', { tolerance: ctx.contract.index.limits.toleranceMax! + 1 }), 'BAD_REQUEST');
      const tooManyParts = envelopeFor(
        Array.from({ length: ctx.contract.index.limits.maxEnvelopeParts! + 1 }, (_, i) => `device${String(i).padStart(12, '0')}`),
        'x',
      );
      expectCode(
        await phone.fails('mutation', 'message.send', { chatId: 'C'.repeat(22), envelope: tooManyParts, clientMessageId: 'm1' }),
        'PAYLOAD_TOO_LARGE',
      );
      expectCode(await anon.fails('query', 'account.nonexistent'), 'NOT_FOUND');
      anon.sendText('{this is not json');
      await anon.until(() => anon.connectionErrors.length > 0, 'an error frame for an unreadable frame');
      expectCode(anon.connectionErrors[0]!, 'BAD_REQUEST');
    },
  },
  {
    name: 'clients.list: shows the account\'s devices and marks the current one',
    async run(ctx, state) {
      const phone = state.get<Device>('device:alice:phone');
      const laptop = state.get<Device>('device:alice:laptop');
      const conn = await ctx.open({ ...phone });
      const list = (await conn.ok('query', 'clients.list')) as { clientHash: string; deviceName: string | null; current: boolean }[];
      const byHash = new Map(list.map((c) => [c.clientHash, c]));
      assert(list.length === 2, `expected 2 devices, got ${list.length}`);
      assert(byHash.get(phone.clientHash)?.current === true && byHash.get(phone.clientHash)?.deviceName === 'phone', 'the phone is not current');
      assert(byHash.get(laptop.clientHash)?.current === false, 'the laptop is marked current');
    },
  },
  {
    name: 'match.start: two users within each other\'s tolerance are paired, and both get match.found',
    async run(ctx, state) {
      const alice = await online(ctx, state, 'alice:phone', state.get<Device>('device:alice:phone'));
      await online(ctx, state, 'alice:laptop', state.get<Device>('device:alice:laptop'));
      const bob = await online(ctx, state, 'bob:phone', state.get<Device>('device:bob:phone'));
      const a = (await alice.conn.ok('mutation', 'match.start', { tolerance: 1 })) as { queued: boolean; chatId: string | null };
      assert(a.queued && a.chatId === null, 'alice was paired with someone before bob arrived: is the server in use?');
      const b = (await bob.conn.ok('mutation', 'match.start', { tolerance: 1 })) as { queued: boolean; chatId: string | null };
      assert(!b.queued && b.chatId, 'bob (41) was not paired with alice (40) at tolerance 1');
      type Found = { chatId: string; peer: { userHash: string; age: number } };
      const foundA = await alice.stream.next<Found>('match.found');
      const foundB = await bob.stream.next<Found>('match.found');
      assert(foundA.chatId === b.chatId && foundB.chatId === b.chatId, 'match.found names another chat');
      assert(foundA.peer.userHash === state.get<User>('user:bob').userHash && foundA.peer.age === 41, "alice's match.found does not name bob");
      assert(foundB.peer.userHash === state.get<User>('user:alice').userHash, "bob's match.found does not name alice");
      state.set('chatId', b.chatId);
    },
  },
  {
    name: 'match.start: users whose age gap exceeds either tolerance are not paired',
    async run(ctx, state) {
      const adult = await online(ctx, state, 'adult:phone', state.get<Device>('device:adult:phone'));
      const older = await online(ctx, state, 'older:phone', state.get<Device>('device:older:phone'));
      // 18 and 21: a gap of 3 fits 21's tolerance of 5 but not 18's of 2.
      assert(((await adult.conn.ok('mutation', 'match.start', { tolerance: 2 })) as { queued: boolean }).queued, '18 was paired at once');
      const o = (await older.conn.ok('mutation', 'match.start', { tolerance: 5 })) as { queued: boolean };
      assert(o.queued, '18 (tolerance 2) and 21 (tolerance 5) were paired');
      for (const u of [adult, older]) {
        assert(((await u.conn.ok('mutation', 'match.cancel')) as { cancelled: boolean }).cancelled, 'match.cancel found no ticket');
      }
    },
  },
  {
    name: 'match.start: a minor (17) and an adult (18) are never paired, even at the widest tolerance',
    async run(ctx, state) {
      const max = ctx.contract.index.limits.toleranceMax!;
      const minor = await online(ctx, state, 'minor:phone', state.get<Device>('device:minor:phone'));
      const adult = state.get<Online>('online:adult:phone');
      assert(((await minor.conn.ok('mutation', 'match.start', { tolerance: max })) as { queued: boolean }).queued, '17 was paired at once');
      const a = (await adult.conn.ok('mutation', 'match.start', { tolerance: max })) as { queued: boolean };
      assert(a.queued, 'a 17-year-old and an 18-year-old were paired');
      for (const u of [minor, adult]) await u.conn.ok('mutation', 'match.cancel');
      assert(minor.stream.of('match.found').length === 0 && adult.stream.of('match.found').length === 0, 'match.found reached the minor or the adult');
    },
  },
  {
    name: 'message.send: acked, delivered once to the peer and the sender\'s other device, never echoed to the sender',
    async run(_ctx, state) {
      const chatId = state.get<string>('chatId');
      const alice = state.get<Online>('online:alice:phone');
      const laptop = state.get<Online>('online:alice:laptop');
      const bob = state.get<Online>('online:bob:phone');
      const m1 = await send(alice, chatId, [bob.device.clientHash, laptop.device.clientHash], 'hello bob', 'cf-m1');
      const retry = await send(alice, chatId, [bob.device.clientHash, laptop.device.clientHash], 'hello bob', 'cf-m1');
      assert(retry.messageId === m1.messageId && retry.seq === m1.seq, 'a retry with the same clientMessageId stored a second message');
      const r1 = await send(bob, chatId, [alice.device.clientHash, laptop.device.clientHash], 'hi alice', 'cf-r1');
      assert(r1.seq > m1.seq, 'seq does not grow');
      const m2 = await send(alice, chatId, [bob.device.clientHash, laptop.device.clientHash], 'how are you', 'cf-m2');
      const got = await bob.stream.next<{ message: { senderUserHash: string } }>('message.new', messageWith(m1.messageId));
      assert(got.message.senderUserHash === state.get<User>('user:alice').userHash, 'message.new names another sender');
      // Events arrive in order: once m2 is in, a second copy of m1 would have come before it.
      await bob.stream.next('message.new', messageWith(m2.messageId));
      assert(countOf(bob.stream, m1.messageId) === 1, `bob got m1 ${countOf(bob.stream, m1.messageId)} times`);
      await laptop.stream.next('message.new', messageWith(m2.messageId));
      assert(countOf(laptop.stream, m1.messageId) === 1 && countOf(laptop.stream, r1.messageId) === 1, "alice's laptop did not get each message once");
      await alice.stream.next('message.new', messageWith(r1.messageId));
      await alice.stream.next('message.delivered', (e) => (e.seq as number) >= m1.seq);
      assert(countOf(alice.stream, m1.messageId) === 0, "the sender's own device got its message back");
      state.set('acks', [m1, r1, m2]);
    },
  },
  {
    name: 'events.stream: after a reconnect with lastEventId, what was missed arrives exactly once',
    async run(ctx, state) {
      const chatId = state.get<string>('chatId');
      const alice = state.get<Online>('online:alice:phone');
      const bob = state.get<Online>('online:bob:phone');
      const laptop = state.get<Online>('online:alice:laptop');
      const seen = state.get<Ack[]>('acks');
      const lastEventId = bob.stream.lastEventId;
      assert(typeof lastEventId === 'string', 'no resume id on the stream');
      await bob.conn.close();
      const m3 = await send(alice, chatId, [bob.device.clientHash, laptop.device.clientHash], 'missed one', 'cf-m3');
      const m4 = await send(alice, chatId, [bob.device.clientHash, laptop.device.clientHash], 'missed two', 'cf-m4');
      const conn = await ctx.open({ ...bob.device });
      const stream = conn.subscribe('events.stream', {}, lastEventId);
      await stream.next('message.new', messageWith(m4.messageId));
      assert(countOf(stream, m3.messageId) === 1 && countOf(stream, m4.messageId) === 1, 'missed messages did not arrive exactly once');
      for (const old of seen) assert(countOf(stream, old.messageId) === 0, 'a message from before lastEventId was replayed');
      state.set('online:bob:phone', { conn, stream, device: bob.device });
      state.set('acks', [...seen, m3, m4]);
    },
  },
  {
    name: 'events.stream: subscription.stop ends the subscription with a stopped frame',
    async run(ctx, state) {
      const conn = await ctx.open({ ...state.get<Device>('device:older:phone') });
      const stream = conn.subscribe('events.stream');
      await stream.live();
      stream.stop();
      await conn.until(() => stream.stopped, 'the stopped frame');
    },
  },
  {
    name: 'chat.list and chat.history: the chat and its stored messages, in seq order',
    async run(_ctx, state) {
      const bob = state.get<Online>('online:bob:phone');
      const acks = state.get<Ack[]>('acks');
      const chats = (await bob.conn.ok('query', 'chat.list')) as { chatId: string; lastSeq: number }[];
      assert(chats.find((c) => c.chatId === state.get<string>('chatId'))?.lastSeq === acks.at(-1)!.seq, 'chat.list lacks the chat or its last seq');
      const page = (await bob.conn.ok('query', 'chat.history', { chatId: state.get<string>('chatId'), limit: 50 })) as {
        messages: { messageId: string; seq: number }[];
        hasMore: boolean;
      };
      const ids = page.messages.map((m) => m.messageId);
      assert(acks.every((a) => ids.includes(a.messageId)), 'history lacks a sent message');
      assert(page.messages.every((m, i) => i === 0 || m.seq > page.messages[i - 1]!.seq), 'history is not in seq order');
      assert(!page.hasMore, 'hasMore is set on the only page');
    },
  },
  {
    name: 'chat.typing and message.markRead reach the peer',
    async run(_ctx, state) {
      const chatId = state.get<string>('chatId');
      const alice = state.get<Online>('online:alice:phone');
      const bob = state.get<Online>('online:bob:phone');
      const last = state.get<Ack[]>('acks').at(-1)!;
      await bob.conn.ok('mutation', 'chat.typing', { chatId, typing: true });
      await alice.stream.next('chat.typing', (e) => e.typing === true && e.chatId === chatId);
      await bob.conn.ok('mutation', 'message.markRead', { chatId, seq: last.seq });
      await alice.stream.next('message.read', (e) => e.seq === last.seq);
    },
  },
  {
    name: 'keys: devices publish keys; chat peers fetch bundles, each one-time prekey once; strangers get FORBIDDEN',
    async run(_ctx, state) {
      const alice = state.get<Online>('online:alice:phone');
      const bob = state.get<Online>('online:bob:phone');
      const minor = state.get<Online>('online:minor:phone');
      const identity = { signingPub: key(), dhPub: key() };
      const upload = { identity, signedPrekey: { id: 1, pub: key(), signature: randomBytes(64).toString('base64url') }, oneTimePrekeys: [{ id: 2, pub: key() }] };
      const status = (await alice.conn.ok('mutation', 'keys.upload', upload)) as { hasIdentity: boolean; oneTimePrekeys: number };
      assert(status.hasIdentity && status.oneTimePrekeys === 1, `keys.upload answered ${JSON.stringify(status)}`);
      assert(((await alice.conn.ok('query', 'keys.status')) as { oneTimePrekeys: number }).oneTimePrekeys === 1, 'keys.status disagrees');
      const other = { ...upload, identity: { signingPub: key(), dhPub: key() } };
      expectCode(await alice.conn.fails('mutation', 'keys.upload', other), 'CONFLICT');
      const aliceHash = state.get<User>('user:alice').userHash;
      type Bundles = { devices: { clientHash: string; bundle: { identitySigningPub: string; oneTimePrekey?: { id: number } } }[] };
      const first = (await bob.conn.ok('mutation', 'keys.bundles', { userHash: aliceHash })) as Bundles;
      const phone = first.devices.find((d) => d.clientHash === alice.device.clientHash);
      assert(phone?.bundle.identitySigningPub === identity.signingPub && phone.bundle.oneTimePrekey?.id === 2, "bob did not get alice's bundle with its prekey");
      const second = (await bob.conn.ok('mutation', 'keys.bundles', { userHash: aliceHash })) as Bundles;
      assert(!second.devices.find((d) => d.clientHash === alice.device.clientHash)?.bundle.oneTimePrekey, 'a one-time prekey was handed out twice');
      const devices = (await bob.conn.ok('query', 'keys.devices', { userHash: aliceHash })) as { devices: { identity: unknown }[] };
      assert(devices.devices.some((d) => JSON.stringify(d.identity) === JSON.stringify(identity)), "keys.devices lacks alice's identity");
      expectCode(await minor.conn.fails('mutation', 'keys.bundles', { userHash: aliceHash }), 'FORBIDDEN');
    },
  },
  {
    name: 'a user outside a chat gets FORBIDDEN for its history and messages',
    async run(_ctx, state) {
      const chatId = state.get<string>('chatId');
      const minor = state.get<Online>('online:minor:phone');
      expectCode(await minor.conn.fails('query', 'chat.history', { chatId, limit: 10 }), 'FORBIDDEN');
      const envelope = envelopeFor([state.get<Device>('device:alice:phone').clientHash], 'intrusion');
      expectCode(await minor.conn.fails('mutation', 'message.send', { chatId, envelope, clientMessageId: 'cf-x' }), 'FORBIDDEN');
    },
  },
  {
    name: 'chat.leave: both users get chat.ended, and sending then fails with CHAT_ENDED',
    async run(_ctx, state) {
      const chatId = state.get<string>('chatId');
      const alice = state.get<Online>('online:alice:phone');
      const bob = state.get<Online>('online:bob:phone');
      await bob.conn.ok('mutation', 'chat.leave', { chatId });
      await alice.stream.next('chat.ended', (e) => e.chatId === chatId && e.reason === 'left');
      await bob.stream.next('chat.ended', (e) => e.chatId === chatId);
      const envelope = envelopeFor([bob.device.clientHash], 'anyone there?');
      expectCode(await alice.conn.fails('mutation', 'message.send', { chatId, envelope, clientMessageId: 'cf-late' }), 'CHAT_ENDED');
    },
  },
  {
    name: 'safety: block, list and unblock a user; report a chat once',
    async run(_ctx, state) {
      const alice = state.get<Online>('online:alice:phone');
      const bobHash = state.get<User>('user:bob').userHash;
      const chatId = state.get<string>('chatId');
      assert(((await alice.conn.ok('mutation', 'safety.block', { userHash: bobHash })) as { blocked: boolean }).blocked, 'not blocked');
      const blocks = (await alice.conn.ok('query', 'safety.blocks')) as { userHash: string }[];
      assert(blocks.some((b) => b.userHash === bobHash), 'safety.blocks lacks bob');
      assert(((await alice.conn.ok('mutation', 'safety.unblock', { userHash: bobHash })) as { unblocked: boolean }).unblocked, 'not unblocked');
      expectCode(await alice.conn.fails('mutation', 'safety.block', { userHash: state.get<User>('user:alice').userHash }), 'BAD_REQUEST');
      const report = { chatId, reason: 'harassment', note: 'conformance check', disclosed: [{ seq: 1, text: 'hello bob' }] };
      assert(((await alice.conn.ok('mutation', 'safety.report', report)) as { urgent: boolean }).urgent === false, 'harassment is urgent');
      expectCode(await alice.conn.fails('mutation', 'safety.report', report), 'ALREADY_REPORTED');
    },
  },
  {
    name: 'account: rotating the secret needs the current one and retires it; deleting the account signs the caller out',
    async run(ctx, state) {
      const adult = state.get<Online>('online:adult:phone');
      const user = state.get<User>('user:adult');
      expectCode(await adult.conn.fails('mutation', 'account.rotateSecret', { secret: 'x'.repeat(64) }), 'INVALID_CREDENTIALS');
      const { secret } = (await adult.conn.ok('mutation', 'account.rotateSecret', { secret: user.secret })) as { secret: string };
      assert(secret !== user.secret, 'the secret did not change');
      const anon = await ctx.open();
      expectCode(await anon.fails('mutation', 'account.login', { username: user.username, secret: user.secret }), 'INVALID_CREDENTIALS');
      expectCode(await adult.conn.fails('mutation', 'account.delete', { secret: user.secret }), 'INVALID_CREDENTIALS');
      assert(((await adult.conn.ok('mutation', 'account.delete', { secret })) as { deleted: boolean }).deleted, 'not deleted');
      expectCode(await adult.conn.fails('query', 'account.me'), 'UNAUTHORIZED');
      expectCode(await anon.fails('mutation', 'account.login', { username: user.username, secret }), 'INVALID_CREDENTIALS');
    },
  },
  {
    name: 'moderation: reports, users, the audit log; an account ban closes its sockets with 4004 and refuses it with BANNED',
    needsAdmin: true,
    async run(ctx, state) {
      const admin = await ctx.open({ adminToken: ctx.adminToken!, moderator: 'conformance' });
      const chatId = state.get<string>('chatId');
      const reports = (await admin.ok('query', 'admin.reports.list', { status: 'open' })) as { reportId: number; chatId: string }[];
      const report = reports.find((r) => r.chatId === chatId);
      assert(report, "alice's report is not in the moderators' queue");
      await admin.ok('mutation', 'admin.reports.resolve', { reportId: report.reportId, resolution: 'dismissed' });
      expectCode(await admin.fails('mutation', 'admin.reports.resolve', { reportId: report.reportId, resolution: 'dismissed' }), 'CONFLICT');
      const minor = state.get<Online>('online:minor:phone');
      const minorHash = state.get<User>('user:minor').userHash;
      const user = (await admin.ok('query', 'admin.users.get', { userHash: minorHash })) as { devices: { clientHash: string }[] };
      assert(user.devices.some((d) => d.clientHash === minor.device.clientHash), "admin.users.get lacks the minor's device");
      const ban = (await admin.ok('mutation', 'admin.bans.create', { layer: 'account', target: minorHash, reason: 'conformance check', expiresAt: null })) as { banId: number };
      const { code } = await minor.conn.waitClosed();
      assert(code === ctx.contract.closeCodes.BANNED, `the banned account's socket closed with ${code}`);
      const again = await ctx.open({ ...minor.device });
      const refused = await again.fails('query', 'account.me');
      expectCode(refused, 'BANNED');
      assert(refused.data.details.banLayer === 'account' && refused.data.details.banExpiresAt === null, 'BANNED does not say which ban');
      const bans = (await admin.ok('query', 'admin.bans.list', { status: 'active', target: minorHash })) as { banId: number }[];
      assert(bans.some((b) => b.banId === ban.banId), 'admin.bans.list lacks the ban');
      await admin.ok('mutation', 'admin.bans.revoke', { banId: ban.banId, reason: 'conformance check over' });
      const audit = (await admin.ok('query', 'admin.audit.list', { limit: 10 })) as { action: string }[];
      assert(['ban.create', 'ban.revoke', 'report.resolve'].every((a) => audit.some((e) => e.action === a)), 'the audit log lacks an action');
    },
  },
  {
    name: 'clients.revoke: another device needs the secret; the revoked device is closed with 4003 and its token stops working',
    async run(ctx, state) {
      const alice = state.get<Online>('online:alice:phone');
      const laptop = state.get<Online>('online:alice:laptop');
      expectCode(await alice.conn.fails('mutation', 'clients.revoke', { clientHash: laptop.device.clientHash }), 'INVALID_CREDENTIALS');
      const { secret } = state.get<User>('user:alice');
      await alice.conn.ok('mutation', 'clients.revoke', { clientHash: laptop.device.clientHash, secret });
      const { code } = await laptop.conn.waitClosed();
      assert(code === ctx.contract.closeCodes.SESSION_REVOKED, `the revoked device was closed with ${code}`);
      const again = await ctx.open({ ...laptop.device });
      expectCode(await again.fails('query', 'account.me'), 'UNAUTHORIZED');
      const list = (await alice.conn.ok('query', 'clients.list')) as unknown[];
      assert(list.length === 1, 'the revoked device is still listed');
    },
  },
  {
    name: 'clients.revoke: revoking the current device answers, then closes with 4003',
    async run(ctx, state) {
      const older = state.get<Online>('online:older:phone');
      await older.conn.ok('mutation', 'clients.revoke', { clientHash: older.device.clientHash });
      const { code } = await older.conn.waitClosed();
      assert(code === ctx.contract.closeCodes.SESSION_REVOKED, `closed with ${code}`);
    },
  },
  {
    name: 'a frame over the size limit closes the socket with 1009',
    async run(ctx) {
      const anon = await ctx.open();
      anon.sendText('x'.repeat(ctx.contract.index.limits.maxFrameBytes! + 1));
      const { code } = await anon.waitClosed();
      assert(code === 1009, `closed with ${code}`);
    },
  },
  {
    name: 'keep-alive: the server answers PING with PONG',
    async run(ctx) {
      const anon = await ctx.open();
      anon.sendText('PING');
      await anon.until(() => anon.texts.includes('PONG'), 'PONG');
    },
  },
  {
    name: 'every procedure of the contract was called, and its replies matched their schemas',
    async run(ctx) {
      const missing = Object.entries(ctx.contract.index.procedures)
        .filter(([path, p]) => !ctx.answered.has(path) && (p.auth !== 'admin' || ctx.adminToken))
        .map(([path]) => path);
      assert(missing.length === 0, `never answered with data: ${missing.join(', ')}`);
    },
  },
];
