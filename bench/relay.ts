/**
 * Relay benchmark: pairs of clients chatting over real sockets on loopback, against OmeChat
 * and three baselines measured in the same run, each server in its own child process (its
 * CPU time from /proc/<pid>/stat, its RSS from /proc/<pid>/status, apart from this load
 * generator's):
 *   - ws:       bench/baseline-server.ts, a bare `ws` relay answering OmeChat's frames;
 *   - socketio: bench/baseline-socketio.ts, a Socket.IO 4 relay (ack callback per send, a
 *               push event to the peer's room), driven by socket.io-client;
 *   - trpc:     bench/baseline-trpc.ts, a stock tRPC v11 router on @trpc/server's
 *               applyWSSHandler with an in-memory mailbox (no storage);
 *   - durable:  bench/baseline-durable.ts, the durable floor: raw `ws`, hand-checked frames, one
 *               SQLite INSERT per message, group commit per turn, WAL fsync on the thread pool,
 *               then ack + push;
 *   - omechat:  `omechat-server serve` on --storage (SQLite in a temp dir by default), accounts
 *               seeded through its Storage port, pairs matched with `match.start`.
 * ws, trpc and omechat are driven by the same tRPC JSON-RPC frames (lib/rpc.ts); every
 * message carries a 100-byte ciphertext.
 *
 * Two scenarios, each stack in turn (a fresh server per stack and scenario):
 *   - saturated: --pairs pairs, every client keeps --window sends awaiting their ack, both
 *     directions: delivered msg/s, server CPU per delivered message, frames to clients;
 *   - unloaded: 1 pair, one message in flight (the next leaves when the previous was acked
 *     and delivered): one-way latency p50/p99 and frames per message.
 * Latency = the send frame leaving -> the peer's push arriving, both timed in this process.
 * With --rounds N each scenario runs N times, the stacks' order reversed every other round,
 * and each figure comes from the median run: the machine is shared and its load drifts.
 *
 * --nodes 2 (with --storage postgres) measures OmeChat alone, on 1 and then 2 server
 * processes sharing PostgreSQL and a Redis bus (a private redis-server), pairs on the same
 * node or, with --cross, sender and receiver on different nodes; it reports the aggregate
 * msg/s and the PostgreSQL CPU beside it.
 *
 *   node --import tsx relay.ts [--pairs 50[,500x1] | --pairs none] [--window 32] [--seconds 10] [--warmup 2]
 *     [--unloaded-seconds 5] [--rounds 1] [--stacks ws,socketio,trpc,omechat] [--storage sqlite|memory|postgres]
 *     [--nodes 2 [--cross]] [--cpu-prof DIR] [--node-args=FLAGS] [--no-write]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { codeRevision, describeMachine, machine, now } from './lib/machine.ts';
import { benchDatabase, dropSchema, POSTGRES_URL, PostgresCpu } from './lib/postgres.ts';
import { cpuSeconds, metricsHeaders, startBaseline, startOmeChat, startRedis, type ServerProcess } from './lib/proc.ts';
import { commandLine, scriptArgs, table, writeSection } from './lib/report.ts';
import { openMany, RpcClient, type Credentials } from './lib/rpc.ts';
import { probeCommitMs, registerAccounts, seedAccounts, seedPostgres, type SeededUser } from './lib/seed.ts';
import { SioClient } from './lib/sio.ts';
import { fmt, percentiles, ratio, Samples, sleep } from './lib/stats.ts';

const STACKS = ['ws', 'socketio', 'trpc', 'durable', 'omechat'] as const;
type Stack = (typeof STACKS)[number];
const STORAGES = ['sqlite', 'memory', 'postgres'] as const;
type StorageKind = (typeof STORAGES)[number];

const { values: args } = parseArgs({
  args: scriptArgs(),
  options: {
    pairs: { type: 'string', default: '50' },
    window: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    'unloaded-seconds': { type: 'string', default: '5' },
    rounds: { type: 'string', default: '1' },
    stacks: { type: 'string', default: STACKS.join(',') },
    storage: { type: 'string', default: 'sqlite' },
    /** OMECHAT_SQLITE_ACK for the OmeChat server: after-fsync (its default) or before-fsync. */
    'sqlite-ack': { type: 'string', default: 'after-fsync' },
    nodes: { type: 'string', default: '1' },
    cross: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    /** Extra node flags for the OmeChat server, space-separated: --node-args=--trace-gc (with "=", as they start with a dash). */
    'node-args': { type: 'string', default: '' },
    'no-write': { type: 'boolean', default: false },
  },
});
const WINDOW = Number(args.window);
/** "50" (with --window) or "500x1": pairs, and sends in flight per sender; "none" runs only the unloaded scenario. */
const LOADS = (args.pairs === 'none' ? [] : args.pairs.split(',')).map((entry) => {
  const [pairs, window] = entry.split('x');
  return { pairs: Number(pairs), window: window === undefined ? WINDOW : Number(window) };
});
const PAIRS = LOADS.map((l) => l.pairs);
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);
const UNLOADED_SECONDS = Number(args['unloaded-seconds']);
const ROUNDS = Number(args.rounds);
const SELECTED = args.stacks.split(',') as Stack[];
const STORAGE = args.storage as StorageKind;
const NODES = Number(args.nodes);
const SQLITE_ACK = args['sqlite-ack'];
if (!['after-fsync', 'before-fsync'].includes(SQLITE_ACK)) throw new Error('--sqlite-ack: after-fsync or before-fsync');
/** The default run writes "relay"; others write a section of their own. */
const VARIANT = STORAGE === 'sqlite' && SQLITE_ACK === 'after-fsync' ? '' : STORAGE === 'sqlite' ? 'sqlite-before-fsync' : STORAGE;
if (SELECTED.some((s) => !STACKS.includes(s))) throw new Error(`--stacks: each of ${STACKS.join(', ')}`);
if (!STORAGES.includes(STORAGE)) throw new Error(`--storage: one of ${STORAGES.join(', ')}`);
if (NODES !== 1 && (NODES !== 2 || STORAGE !== 'postgres')) throw new Error('--nodes 2 needs --storage postgres (processes share PostgreSQL and a Redis bus)');

const LABEL: Record<Stack, string> = { ws: 'bare ws', socketio: 'Socket.IO 4', trpc: 'stock tRPC v11', durable: 'durable ws relay', omechat: `OmeChat (${STORAGE})` };
const RING = 1 << 16;
const CIPHERTEXT = randomBytes(100).toString('base64url'); // 100 bytes of "ciphertext"

interface MessageNew {
  type: 'message.new';
  message: { senderClientHash: string; envelope: { parts: { header: string }[] } };
}

type Mode = 'saturated' | 'unloaded';

class RunStats {
  /** What an ack or a delivery starts: another send (saturated), the next one-in-flight send, or nothing. */
  pump: Mode | 'off' = 'off';
  measuring = false;
  sent = 0;
  acked = 0;
  errors = 0;
  delivered = 0;
  windowDelivered = 0;
  echoes = 0;
  otherEvents = 0;
  latency = new Samples();
}

/** One side of a pair: sends to its peer, timestamps sends, measures the peer's deliveries. */
class Endpoint {
  client!: RpcClient | SioClient;
  peer!: Endpoint;
  chatId = '';
  readonly sentAt = new Float64Array(RING);
  counter = 0;
  inFlight = 0;
  framePrefix = '';
  constructor(
    readonly index: number,
    readonly creds: Credentials,
    /** Which server process this client talks to (0 unless --nodes 2). */
    readonly node: number,
    readonly stats: RunStats,
  ) {}

  prepare(): void {
    // Everything but the id, the header (the message counter) and clientMessageId is fixed.
    this.framePrefix =
      `"method":"mutation","params":{"path":"message.send","input":{"chatId":"${this.chatId}",` +
      `"envelope":{"v":1,"parts":[{"to":"${this.peer.creds.clientHash}","ciphertext":"${CIPHERTEXT}","header":"`;
  }

  send(): void {
    const c = this.counter++;
    const header = c.toString(36);
    this.inFlight++;
    this.stats.sent++;
    this.sentAt[c & (RING - 1)] = performance.now();
    const client = this.client;
    if (client instanceof SioClient) {
      const envelope = { v: 1, parts: [{ to: this.peer.creds.clientHash, ciphertext: CIPHERTEXT, header }] };
      client.send('send', { chatId: this.chatId, envelope, clientMessageId: `b${this.index}-${header}` }, this.onAck);
    } else {
      const id = client.reserveId();
      const frame = `{"id":${id},${this.framePrefix}${header}"}]},"clientMessageId":"b${this.index}-${header}"}}}`;
      client.sendRaw(id, frame, 'message.send', this.onAck, this.onFail);
    }
  }

  /** One in flight: the next message leaves once the previous one is acked and delivered. */
  next(): void {
    if (this.stats.pump === 'unloaded' && this.inFlight === 0 && this.stats.delivered === this.stats.sent) this.send();
  }

  readonly onAck = () => {
    this.inFlight--;
    this.stats.acked++;
    if (this.stats.pump === 'saturated') this.send();
    else this.next();
  };

  readonly onFail = (err: Error) => {
    this.inFlight--;
    this.stats.errors++;
    if (this.stats.errors <= 3) console.error(err.message);
  };

  readonly onEvents = (events: unknown[], at: number) => {
    const stats = this.stats;
    for (const e of events as { type: string }[]) {
      if (e.type !== 'message.new') {
        stats.otherEvents++;
        continue;
      }
      const m = (e as MessageNew).message;
      if (m.senderClientHash !== this.peer.creds.clientHash) {
        stats.echoes++;
        continue;
      }
      stats.delivered++;
      if (stats.measuring) {
        stats.windowDelivered++;
        const c = parseInt(m.envelope.parts[0]!.header, 36);
        stats.latency.push(at - this.peer.sentAt[c & (RING - 1)]!);
      }
    }
    if (stats.pump === 'unloaded') this.peer.next();
  };
}

interface RunResult {
  stack: Stack;
  mode: Mode;
  pairs: number;
  nodes: number;
  setupSeconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  serverCpuUsPerMsg: number;
  serverCpuPct: number;
  /** Share of the server's CPU time spent in the kernel (syscalls: socket writes, fsync). */
  serverSysShare: number;
  loadgenCpuPct: number;
  framesPerMsg: number;
  rssIdle: number;
  rssPeak: number;
  errors: number;
  lost: number;
  echoesPerMsg: number;
  otherEventsPerMsg: number;
  /** --storage postgres: CPU of this run's backends and of every postgres process, % of a core. */
  postgres?: { backendsPct: number; allPct: number; backendsUsPerMsg: number };
  /** --nodes: the private redis-server's CPU, % of a core. */
  redisPct?: number;
  /** SQLite stacks: the WAL's high-water mark, and the share of the run commits waited for checkpoints. */
  wal?: { highWaterBytes: number; holdSeconds: number; checkpoints: number };
  window: number;
}

/** Where OmeChat keeps its data for one run, and how its processes are told. */
interface OmeChatBackend {
  env: Record<string, string>;
  dataDir?: string;
  postgresCpu?: PostgresCpu;
  redis?: Awaited<ReturnType<typeof startRedis>>;
  /** Accounts written before the server starts; null when they must be registered through it. */
  users: SeededUser[] | null;
  cleanup(): Promise<void>;
}

async function prepareOmeChat(accounts: number, nodes: number): Promise<OmeChatBackend> {
  const wanted = Array.from({ length: accounts }, () => ({ age: 30, devices: 1 }));
  if (STORAGE === 'sqlite') {
    const dataDir = mkdtempSync(join(tmpdir(), 'omechat-relay-'));
    const users = await seedAccounts(dataDir, wanted);
    return { env: { OMECHAT_SQLITE_ACK: SQLITE_ACK }, dataDir, users, cleanup: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  // Registered through the API: no proof-of-work (it would be solved by the load generator).
  if (STORAGE === 'memory') return { env: { OMECHAT_STORAGE: 'memory', OMECHAT_POW_DIFFICULTY: '0' }, users: null, cleanup: async () => undefined };
  const db = benchDatabase(nodes > 1 ? 'relay2' : 'relay');
  const redis = NODES > 1 ? await startRedis() : undefined;
  try {
    const users = await seedPostgres(POSTGRES_URL, db.schema, wanted);
    return {
      env: {
        OMECHAT_STORAGE: 'postgres',
        OMECHAT_DATABASE_URL: db.serverUrl,
        ...(redis ? { OMECHAT_BUS: 'redis', OMECHAT_REDIS_URL: redis.url } : {}),
      },
      postgresCpu: new PostgresCpu(db.applicationName),
      redis,
      users,
      async cleanup() {
        await redis?.stop();
        await dropSchema(db.schema);
      },
    };
  } catch (err) {
    await redis?.stop();
    await dropSchema(db.schema);
    throw err;
  }
}

async function measure(servers: ServerProcess[], endpoints: Endpoint[], stats: RunStats, seconds: number, backend?: OmeChatBackend) {
  const framesIn = () => endpoints.reduce((n, e) => n + e.client.framesIn, 0);
  const serverTimes = () =>
    servers.reduce(
      (sum, s) => {
        const t = s.cpuTimes();
        return { user: sum.user + t.user, system: sum.system + t.system };
      },
      { user: 0, system: 0 },
    );
  stats.latency.clear();
  stats.windowDelivered = 0;
  const cpu0 = serverTimes();
  const load0 = process.cpuUsage();
  const redis0 = backend?.redis ? cpuSeconds(backend.redis.pid) : 0;
  backend?.postgresCpu?.start();
  const frames0 = framesIn();
  const t0 = performance.now();
  stats.measuring = true;
  await sleep(seconds * 1000);
  stats.measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = serverTimes();
  const frames = framesIn() - frames0;
  const load = process.cpuUsage(load0);
  const pg = await backend?.postgresCpu?.stop();
  const sys = cpu1.system - cpu0.system;
  const cpu = cpu1.user - cpu0.user + sys;
  const [p50, p99] = percentiles(stats.latency.values(), [50, 99]);
  const delivered = stats.windowDelivered;
  return {
    perSecond: delivered / elapsed,
    p50: p50!,
    p99: p99!,
    serverCpuUsPerMsg: (cpu * 1e6) / delivered,
    serverCpuPct: (cpu / elapsed) * 100,
    serverSysShare: sys / cpu,
    loadgenCpuPct: ((load.user + load.system) / 1e6 / elapsed) * 100,
    framesPerMsg: frames / delivered,
    ...(pg ? { postgres: { backendsPct: (pg.backends / elapsed) * 100, allPct: (pg.all / elapsed) * 100, backendsUsPerMsg: (pg.backends * 1e6) / delivered } } : {}),
    ...(backend?.redis ? { redisPct: ((cpuSeconds(backend.redis.pid) - redis0) / elapsed) * 100 } : {}),
  };
}

/**
 * Waits until every send is acked and every acked message delivered, as long as deliveries
 * keep coming (a slow server may be seconds behind); gives up after 10 s without progress.
 */
async function drain(endpoints: Endpoint[], stats: RunStats): Promise<void> {
  let progress = stats.delivered + stats.acked;
  let since = Date.now();
  while (Date.now() - since < 10_000) {
    const inFlight = endpoints.some((e) => e.inFlight > 0);
    if (!inFlight && stats.delivered >= stats.acked) return;
    await sleep(20);
    if (stats.delivered + stats.acked !== progress) {
      progress = stats.delivered + stats.acked;
      since = Date.now();
    }
  }
}

/** Sender and receiver on the same node (pair p on node p % 2) or, with --cross, on different nodes. */
const nodeOf = (endpoint: number, nodes: number) => (nodes === 1 ? 0 : args.cross ? endpoint % 2 : Math.floor(endpoint / 2) % 2);

/** The WAL figures a SQLite-backed stack reports: OmeChat on /metrics, the durable relay on /stats. */
async function walFigures(stack: Stack, server: ServerProcess): Promise<RunResult['wal']> {
  const base = server.url.replace(/^ws/, 'http').replace(/\/trpc.*$/, '').replace(/\/$/, '');
  if (stack === 'durable') {
    const s = (await (await fetch(`${base}/stats`)).json()) as { walHighWaterBytes: number; holdSeconds: number; checkpoints: number };
    return { highWaterBytes: s.walHighWaterBytes, holdSeconds: s.holdSeconds, checkpoints: s.checkpoints };
  }
  if (stack !== 'omechat' || STORAGE !== 'sqlite') return undefined;
  const text = await (await fetch(`${base}/metrics`, { headers: metricsHeaders })).text();
  const figure = (name: string) => Number(new RegExp(`^omechat_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { highWaterBytes: figure('sqlite_wal_high_water_bytes'), holdSeconds: figure('sqlite_checkpoint_hold_seconds'), checkpoints: figure('sqlite_checkpoints') };
}

async function run(stack: Stack, mode: Mode, pairs: number, nodes = 1, window = WINDOW): Promise<RunResult> {
  const t0 = performance.now();
  const stats = new RunStats();
  const servers: ServerProcess[] = [];
  const endpoints: Endpoint[] = [];
  let backend: OmeChatBackend | undefined;
  try {
    let users: Credentials[];
    if (stack === 'omechat') {
      backend = await prepareOmeChat(pairs * 2, nodes);
      for (let n = 0; n < nodes; n++) {
        const server = await startOmeChat({
          ...(backend.dataDir ? { dataDir: backend.dataDir } : {}),
          env: backend.env,
          nodeArgs: [
            ...(args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', args['cpu-prof']] : []),
            ...args['node-args'].split(' ').filter(Boolean),
          ],
        });
        servers.push(server);
      }
      const seeded = backend.users ?? (await registerAccounts(servers[0]!.url, Array.from({ length: pairs * 2 }, () => ({ age: 30, devices: 1 }))));
      users = seeded.map((u) => u.devices[0]!);
    } else {
      servers.push(await startBaseline({ kind: stack }));
      users = Array.from({ length: pairs * 2 }, () => ({ clientHash: randomBytes(16).toString('base64url'), accessToken: randomBytes(32).toString('base64url') }));
    }
    users.forEach((creds, i) => endpoints.push(new Endpoint(i, creds, nodeOf(i, nodes), stats)));
    await openMany(endpoints.length, 64, async (i) => {
      const e = endpoints[i]!;
      const url = servers[e.node]!.url;
      e.client = stack === 'socketio' ? await SioClient.open({ url, credentials: e.creds, onEvents: e.onEvents }) : await RpcClient.open({ url, credentials: e.creds, onEvents: e.onEvents });
      await e.client.subscribe();
    });
    for (let p = 0; p < pairs; p++) {
      const a = endpoints[2 * p]!;
      const b = endpoints[2 * p + 1]!;
      a.peer = b;
      b.peer = a;
      a.chatId = b.chatId = await pair(stack, a, b, servers);
      a.prepare();
      b.prepare();
    }
    await sleep(500); // match.found events and their receipts settle
    const setupSeconds = (performance.now() - t0) / 1000;
    const rssIdle = servers.reduce((n, s) => n + s.memory().rss, 0);

    stats.pump = mode;
    if (mode === 'saturated') {
      for (const e of endpoints) for (let w = 0; w < window; w++) e.send();
    } else {
      endpoints[0]!.send();
    }
    await sleep(WARMUP * 1000);
    const measured = await measure(servers, endpoints, stats, mode === 'saturated' ? SECONDS : UNLOADED_SECONDS, backend);
    stats.pump = 'off';
    const wal = await walFigures(stack, servers[0]!);
    await drain(endpoints, stats);
    return {
      stack,
      mode,
      pairs,
      nodes,
      window,
      ...(wal ? { wal } : {}),
      setupSeconds,
      ...measured,
      rssIdle,
      rssPeak: servers.reduce((n, s) => n + s.memory().peak, 0),
      errors: stats.errors,
      lost: stats.acked - stats.delivered,
      echoesPerMsg: stats.echoes / Math.max(1, stats.delivered),
      otherEventsPerMsg: stats.otherEvents / Math.max(1, stats.delivered),
    };
  } finally {
    await Promise.all(endpoints.map((e) => e.client?.close()));
    await Promise.all(servers.map((s) => s.stop()));
    await backend?.cleanup();
  }
}

/** Puts a and b in one chat the way each stack does it; returns the chat id. */
async function pair(stack: Stack, a: Endpoint, b: Endpoint, servers: ServerProcess[]): Promise<string> {
  if (stack === 'socketio') {
    const chatId = randomUUID();
    await (a.client as SioClient).call('join', chatId);
    await (b.client as SioClient).call('join', chatId);
    return chatId;
  }
  const ca = a.client as RpcClient;
  const cb = b.client as RpcClient;
  if (stack !== 'omechat') {
    const chatId = randomUUID();
    await ca.call('mutation', 'bench.join', { chatId });
    await cb.call('mutation', 'bench.join', { chatId });
    return chatId;
  }
  // Sequential, all age 30, tolerance 0: b's only compatible waiting ticket is a's. Each
  // process has its own matcher, so b asks a's node, over a second connection if it lives elsewhere.
  const onANode = b.node === a.node ? cb : await RpcClient.open({ url: servers[a.node]!.url, credentials: b.creds });
  try {
    const first = await ca.call<{ queued: boolean }>('mutation', 'match.start', { tolerance: 0 });
    const second = await onANode.call<{ queued: boolean; chatId: string }>('mutation', 'match.start', { tolerance: 0 });
    if (!first.queued || second.queued || !second.chatId) throw new Error(`endpoints ${a.index} and ${b.index} did not match`);
    return second.chatId;
  } finally {
    if (onANode !== cb) await onANode.close();
  }
}

const MiB = (b: number) => fmt(b / 2 ** 20, 1);

function printResult(r: RunResult) {
  const name = r.stack === 'omechat' && r.nodes > 1 ? `${LABEL.omechat} x${r.nodes}` : LABEL[r.stack];
  console.log(
    `  ${name.padEnd(20)} ${fmt(r.perSecond)} msg/s, p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms, ` +
      `server CPU ${fmt(r.serverCpuUsPerMsg, 1)} µs/msg (${fmt(r.serverCpuPct)}% of a core, ${fmt(r.serverSysShare * 100)}% in kernel), ` +
      `load generator ${fmt(r.loadgenCpuPct)}%, ${fmt(r.framesPerMsg, 2)} frames to clients per msg; ` +
      `RSS ${MiB(r.rssIdle)} -> peak ${MiB(r.rssPeak)} MiB; setup ${fmt(r.setupSeconds, 1)} s; errors ${r.errors}; acked, not delivered after the drain ${r.lost}; ` +
      `per msg ${fmt(r.echoesPerMsg, 2)} echoes, ${fmt(r.otherEventsPerMsg, 2)} other events` +
      (r.postgres ? `; PostgreSQL: this run's backends ${fmt(r.postgres.backendsPct)}% of a core (${fmt(r.postgres.backendsUsPerMsg, 1)} µs/msg), all postgres processes ${fmt(r.postgres.allPct)}%` : '') +
      (r.redisPct !== undefined ? `; redis ${fmt(r.redisPct)}%` : '') +
      (r.wal ? `; WAL high-water ${MiB(r.wal.highWaterBytes)} MiB, ${r.wal.checkpoints} checkpoints, commits held ${fmt(r.wal.holdSeconds * 1000)} ms in all` : ''),
  );
}

const revision = codeRevision();
const machineLine = describeMachine(machine());
console.log(`machine: ${machineLine}`);
console.log(`code: ${revision}`);
const setupLines = [
  `- **Setup:** every server in its own child process (CPU = utime+stime from /proc/<pid>/stat, RSS from /proc/<pid>/status), the load generator in the parent on the same cores, loopback, 100-byte ciphertext per message, stacks run one after another with a fresh server per stack and scenario.`,
  ...(ROUNDS > 1 ? [`  ${ROUNDS} rounds, the order of the stacks reversed every other round; each figure is from the median run (by msg/s, or by p50 for the unloaded scenario).`] : []),
  `  Rate limits stay on in OmeChat (memory store) but are raised out of reach, since all load comes from one loopback network (\`BENCH_SERVER_ENV\` in \`bench/lib/proc.ts\`).`,
];
let commitMs: number | undefined;
if (STORAGE === 'sqlite' && SELECTED.includes('omechat') && NODES === 1) {
  commitMs = await probeCommitMs();
  console.log(`SQLite durable commit (server adapter, synchronous=FULL) in the temp dir: median ${fmt(commitMs, 3)} ms`);
}

/**
 * Runs each configuration --rounds times, one after another (the order reversed every other
 * round, so a drift in the machine's load does not always favour the same stack), and keeps
 * the median run of each by `key`.
 */
async function inRounds<K>(configs: K[], runOne: (k: K) => Promise<RunResult>, key: (r: RunResult) => number): Promise<Map<K, RunResult>> {
  const all = new Map<K, RunResult[]>(configs.map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    if (ROUNDS > 1) console.log(`  round ${round + 1} of ${ROUNDS}`);
    for (const k of round % 2 === 1 ? [...configs].reverse() : configs) {
      const r = await runOne(k);
      printResult(r);
      all.get(k)!.push(r);
    }
  }
  const median = (runs: RunResult[]) => [...runs].sort((a, b) => key(a) - key(b))[Math.floor((runs.length - 1) / 2)]!;
  const out = new Map([...all].map(([k, runs]) => [k, median(runs)] as const));
  if (ROUNDS > 1) {
    console.log('  median runs:');
    for (const r of out.values()) printResult(r);
  }
  return out;
}

if (NODES > 1) await runNodes();
else await runStacks();

async function runStacks(): Promise<void> {
  const loaded = new Map<string, Map<Stack, RunResult>>();
  for (const { pairs, window } of LOADS) {
    console.log(`\nsaturated: ${pairs} pairs (${pairs * 2} connections), ${window} in flight per sender, both directions, ${SECONDS} s measured after ${WARMUP} s warm-up`);
    loaded.set(`${pairs}x${window}`, await inRounds(SELECTED, (stack) => run(stack, 'saturated', pairs, 1, window), (r) => r.perSecond));
  }
  console.log(`\nunloaded: 1 pair, 1 message in flight, one direction, ${UNLOADED_SECONDS} s measured after ${WARMUP} s warm-up`);
  const unloaded = await inRounds(SELECTED, (stack) => run(stack, 'unloaded', 1), (r) => r.p50);

  // The issue's targets compare OmeChat with Socket.IO in the same run, at the first --pairs.
  const targets: (string | number)[][] = [];
  const main = LOADS[0] ? loaded.get(`${LOADS[0].pairs}x${LOADS[0].window}`)! : new Map<Stack, RunResult>();
  const [o, s, ou, su] = [main.get('omechat'), main.get('socketio'), unloaded.get('omechat'), unloaded.get('socketio')];
  const check = (what: string, mine: number, theirs: number, show: (n: number) => string, most: number | null, least: number | null) => {
    const r = mine / theirs;
    const ok = (most === null || r <= most) && (least === null || r >= least);
    targets.push([what, show(mine), show(theirs), ratio(mine, theirs), most !== null ? `<= ${most}x` : `>= ${least}x`, ok ? 'pass' : 'FAIL']);
  };
  if (o && s) {
    check(`server CPU per delivered msg, ${PAIRS[0]} pairs x${LOADS[0]!.window}`, o.serverCpuUsPerMsg, s.serverCpuUsPerMsg, (n) => `${fmt(n, 1)} µs`, 3, null);
    check(`delivered msg/s, ${PAIRS[0]} pairs x${LOADS[0]!.window}`, o.perSecond, s.perSecond, (n) => fmt(n), null, 0.35);
  }
  if (ou && su) {
    check('one-way latency p50, 1 pair, 1 in flight', ou.p50, su.p50, (n) => `${fmt(n, 3)} ms`, 3, null);
    check('one-way latency p99, 1 pair, 1 in flight', ou.p99, su.p99, (n) => `${fmt(n, 3)} ms`, 3, null);
  }
  if (ou) targets.push(['frames to clients per msg, 1 pair unloaded', fmt(ou.framesPerMsg, 2), su ? fmt(su.framesPerMsg, 2) : '', '', '2 (ack + push)', ou.framesPerMsg <= 2.02 ? 'pass' : 'FAIL']);
  if (ou && o) targets.push([`frames to clients per msg, ${PAIRS[0]} pairs x${LOADS[0]!.window}`, fmt(o.framesPerMsg, 2), s ? fmt(s.framesPerMsg, 2) : '', '', `fewer than unloaded (${fmt(ou.framesPerMsg, 2)})`, o.framesPerMsg < ou.framesPerMsg ? 'pass' : 'FAIL']);
  if (targets.length > 0) {
    console.log('\ntargets (OmeChat against Socket.IO, same run):');
    for (const t of targets) console.log(`  ${t[5]}  ${t[0]}: ${t[1]} vs ${t[2]} ${t[3]} (target ${t[4]})`);
  }

  // Issue 16's targets compare OmeChat with the durable relay in the same run.
  const floor: (string | number)[][] = [];
  const against = (what: string, mine: number, theirs: number, show: (n: number) => string, most: number) =>
    floor.push([what, show(mine), show(theirs), ratio(mine, theirs), `<= ${most}x`, mine / theirs <= most ? 'pass' : 'FAIL']);
  for (const [at, results] of loaded) {
    const [om, du] = [results.get('omechat'), results.get('durable')];
    if (om && du) against(`server CPU per delivered msg, ${at.replace('x', ' pairs x')}`, om.serverCpuUsPerMsg, du.serverCpuUsPerMsg, (n) => `${fmt(n, 1)} µs`, 3);
    if (om?.wal) {
      const mib = om.wal.highWaterBytes / 2 ** 20;
      floor.push([`WAL high-water mark, ${at.replace('x', ' pairs x')}, ${SECONDS + WARMUP} s`, `${fmt(mib, 1)} MiB`, du?.wal ? `${MiB(du.wal.highWaterBytes)} MiB` : '', '', '<= 256 MiB', mib <= 256 ? 'pass' : 'FAIL']);
    }
  }
  const du1 = unloaded.get('durable');
  if (ou && du1) {
    against('one-way latency p50, 1 pair, 1 in flight', ou.p50, du1.p50, (n) => `${fmt(n, 3)} ms`, 1.5);
    against('one-way latency p99, 1 pair, 1 in flight', ou.p99, du1.p99, (n) => `${fmt(n, 3)} ms`, 2);
  }
  if (floor.length > 0) {
    console.log('\ntargets (OmeChat against the durable relay, same run):');
    for (const t of floor) console.log(`  ${t[5]}  ${t[0]}: ${t[1]} vs ${t[2]} ${t[3]} (target ${t[4]})`);
  }
  if (args['no-write']) return;

  const rows: string[][] = [];
  const row = (what: string, results: Map<Stack, RunResult>, of: (r: RunResult) => string) => rows.push([what, ...SELECTED.map((st) => { const r = results.get(st); return r ? of(r) : ''; })]);
  for (const [pairs, results] of loaded) {
    const at = pairs.replace('x', ' pairs x');
    row(`delivered msg/s, ${at}`, results, (r) => fmt(r.perSecond));
    row(`server CPU per delivered msg, ${at}`, results, (r) => `${fmt(r.serverCpuUsPerMsg, 1)} µs`);
    row(`server CPU, ${at}`, results, (r) => `${fmt(r.serverCpuPct)}% of a core (${fmt(r.serverSysShare * 100)}% kernel)`);
    row(`load generator CPU, ${at}`, results, (r) => `${fmt(r.loadgenCpuPct)}% of a core`);
    row(`latency p50 / p99 (queueing), ${at}`, results, (r) => `${fmt(r.p50, 2)} / ${fmt(r.p99, 2)} ms`);
    row(`frames to clients per msg, ${at}`, results, (r) => fmt(r.framesPerMsg, 2));
    row(`server RSS connected idle -> peak, ${at}`, results, (r) => `${MiB(r.rssIdle)} -> ${MiB(r.rssPeak)} MiB`);
    row(`send errors / acked, not delivered after the drain, ${at}`, results, (r) => `${r.errors} / ${r.lost}`);
    if ([...results.values()].some((r) => r.wal)) {
      row(`SQLite WAL high-water mark / commits held for checkpoints, ${at}`, results, (r) => (r.wal ? `${MiB(r.wal.highWaterBytes)} MiB / ${fmt((r.wal.holdSeconds / (SECONDS + WARMUP)) * 100, 1)}% of the run` : ''));
    }
    if ([...results.values()].some((r) => r.postgres)) {
      row(`PostgreSQL CPU: this run's backends / all postgres processes, ${at}`, results, (r) => (r.postgres ? `${fmt(r.postgres.backendsPct)}% / ${fmt(r.postgres.allPct)}% of a core` : ''));
    }
  }
  row('one-way latency p50 / p99, 1 pair, 1 in flight', unloaded, (r) => `${fmt(r.p50, 3)} / ${fmt(r.p99, 3)} ms`);
  row('frames to clients per msg, 1 pair, 1 in flight', unloaded, (r) => fmt(r.framesPerMsg, 2));
  row('server CPU per delivered msg, 1 pair, 1 in flight', unloaded, (r) => `${fmt(r.serverCpuUsPerMsg, 1)} µs`);

  writeSection(
    VARIANT ? `relay-${VARIANT}` : 'relay',
    `## Relay${VARIANT ? ` (OmeChat on ${VARIANT === 'sqlite-before-fsync' ? 'SQLite, OMECHAT_SQLITE_ACK=before-fsync' : VARIANT})` : ''}

- **Machine:** ${machineLine}
- **Date:** ${now()}
- **Command:** ${commandLine('relay')}
- **Code:** ${revision}
${setupLines.join('\n')}
  Stacks: bare \`ws\` (\`bench/baseline-server.ts\`), Socket.IO 4 (\`bench/baseline-socketio.ts\`, socket.io-client, WebSocket transport, ack callback per send, push to the peer's room), stock tRPC v11 (\`bench/baseline-trpc.ts\`, applyWSSHandler, in-memory mailbox, tracked batches, no storage), the durable ws relay (\`bench/baseline-durable.ts\`: raw \`ws\`, a hand-checked frame, one INSERT per message into SQLite WAL synchronous=NORMAL, group commit per event-loop turn, the WAL fsynced on libuv's thread pool, then ack + push; commits held while a checkpoint restarts the WAL past 32 MiB) and OmeChat (\`omechat-server serve\`, ${STORAGE === 'sqlite' ? 'SQLite in the temp dir' : STORAGE === 'memory' ? 'OMECHAT_STORAGE=memory' : 'PostgreSQL, a fresh schema'}, pairs matched with \`match.start\`, every client on \`events.stream\`). ws, tRPC and OmeChat are driven by the same tRPC JSON-RPC frames.
  Saturated: every client keeps the window of sends shown (pairs xN) awaiting their ack, both directions, ${SECONDS} s measured after ${WARMUP} s warm-up. Unloaded: 1 pair, one message in flight (sent once the previous one is acked and delivered), ${UNLOADED_SECONDS} s measured.
  Latency: send frame out -> the peer's push in, both timed in the load generator. Frames to clients: every frame both clients receive (acks, pushes, receipts, pings) per delivered message.${commitMs !== undefined ? `\n- **SQLite durable commit** (the server's adapter, synchronous=FULL, temp dir): median ${fmt(commitMs, 3)} ms.` : ''}

${table(['figure', ...SELECTED.map((st) => LABEL[st])], rows)}

Targets of issue 8, OmeChat against Socket.IO measured in the same run:

${table(['target', 'OmeChat', 'Socket.IO', 'ratio', 'goal', 'result'], targets)}
${floor.length > 0 ? `
Targets of issue 16, OmeChat against the durable relay measured in the same run:

${table(['target', 'OmeChat', 'durable relay', 'ratio', 'goal', 'result'], floor)}
` : ''}`,
  );
}

async function runNodes(): Promise<void> {
  const pairs = PAIRS[0]!;
  console.log(
    `\nOmeChat on PostgreSQL + Redis bus, ${pairs} pairs x${WINDOW}, ${args.cross ? 'sender and receiver on different processes' : 'both members of a pair on the same process'}, ${SECONDS} s measured after ${WARMUP} s warm-up`,
  );
  const results = await inRounds([1, NODES], (nodes) => run('omechat', 'saturated', pairs, nodes), (r) => r.perSecond);
  const [one, two] = [results.get(1)!, results.get(NODES)!];
  const scale = two.perSecond / one.perSecond;
  const verdict = !Number.isFinite(scale) ? 'n/a (1 process delivered nothing)' : scale >= 1.5 ? 'pass' : 'FAIL';
  console.log(`  ${NODES} processes / 1: ${ratio(two.perSecond, one.perSecond)} the messages (target >= 1.5x: ${verdict})`);
  if (args['no-write']) return;
  const row = (what: string, of: (r: RunResult) => string) => [what, of(one), of(two)];
  writeSection(
    `relay-nodes${args.cross ? '-cross' : ''}`,
    `## Relay on ${NODES} processes (PostgreSQL + Redis bus${args.cross ? ', sender and receiver on different processes' : ', pairs within one process'})

- **Machine:** ${machineLine}
- **Date:** ${now()}
- **Command:** ${commandLine('relay')}
- **Code:** ${revision}
${setupLines.join('\n')}
  OmeChat only: \`omechat-server serve\` with OMECHAT_STORAGE=postgres (one fresh schema per run, shared by the processes) and OMECHAT_BUS=redis (a private redis-server), ${pairs} pairs, ${WINDOW} sends in flight per sender, both directions, ${SECONDS} s measured after ${WARMUP} s warm-up; pairs matched on the first member's process, ${args.cross ? "the second member's connection on the other process" : 'both members on the same process, pairs alternating between processes'}.
  PostgreSQL CPU: utime+stime of this run's backends (found by application_name) and of every postgres process on the machine (WAL writer, checkpointer, and anything else using the shared database), from /proc. Server CPU is the sum over the processes.

${table(['figure', '1 process', `${NODES} processes`], [
  row('delivered msg/s', (r) => fmt(r.perSecond)),
  row('server CPU per delivered msg', (r) => `${fmt(r.serverCpuUsPerMsg, 1)} µs`),
  row('server CPU (all processes)', (r) => `${fmt(r.serverCpuPct)}% of a core`),
  row("PostgreSQL: this run's backends", (r) => `${fmt(r.postgres?.backendsPct ?? NaN)}% of a core (${fmt(r.postgres?.backendsUsPerMsg ?? NaN, 1)} µs/msg)`),
  row('PostgreSQL: all postgres processes', (r) => `${fmt(r.postgres?.allPct ?? NaN)}% of a core`),
  row('redis-server', (r) => `${fmt(r.redisPct ?? NaN)}% of a core`),
  row('load generator CPU', (r) => `${fmt(r.loadgenCpuPct)}% of a core`),
  row('latency p50 / p99 (queueing)', (r) => `${fmt(r.p50, 2)} / ${fmt(r.p99, 2)} ms`),
  row('frames to clients per msg', (r) => fmt(r.framesPerMsg, 2)),
  row('send errors / acked, not delivered after the drain', (r) => `${r.errors} / ${r.lost}`),
])}

Target of issue 8: ${NODES} processes carry ${ratio(two.perSecond, one.perSecond)} what one carries (goal >= 1.5x while the database is not the bottleneck): **${verdict}**.
`,
  );
}
