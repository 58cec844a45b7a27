/**
 * Matching benchmark: pairing with 100,000 tickets waiting.
 *
 * (a) In process: the server's MemoryMatcher against NaiveMatcher (bench/naive-matcher.ts:
 *     the same rules, applied by scanning every waiting ticket oldest first), fed the same
 *     tickets under the same fake clock. The queue holds `--waiting` tickets that cannot pair
 *     with each other (each has its own interest, none has waited long enough to relax),
 *     aged 13-80 with tolerance 0-5. Then `--arrivals` arrive, alternately:
 *       - "interest": the age, tolerance and interest of one random waiting ticket, which it
 *         must take (the only allowed partner sharing an interest);
 *       - "plain": no interests, random adult age and tolerance: it may take only another
 *         plain arrival still waiting, else it waits too.
 *     Every arrival's partner is compared between the two matchers (they must agree).
 *     Latency = one enqueue call (the match.start -> pair step); matches/s = pairs made over
 *     the time spent in enqueue calls.
 * (b) End to end: `omechat-server serve` in a child process (SQLite in a temp dir), with
 *     `--e2e-waiting` users connected, each with events.stream open and a waiting ticket as
 *     in (a); then `--e2e-arrivals` users each call match.start taking one of them
 *     (`--e2e-concurrency` at a time). Latency = match.start sent -> match.found received by
 *     both users. Baseline in the same run: a fresh server where only the arrivals' partners
 *     wait. OMECHAT_MATCH_INTEREST_RELAX_MS is set to 1 h so the waiting tickets keep apart.
 *     Accounts are seeded through the server's Storage adapter (argon2id per account via the
 *     API would take minutes). Every waiting ticket needs an open connection, so 100,000
 *     waiting end to end needs ~100k sockets and several minutes: the default is smaller.
 *
 * (c) RedisMatcher, in process against the Redis at `--redis-url`: the same fill and the same
 *     arrivals as (a), one enqueue at a time (the fill is pipelined); every partner is
 *     compared with MemoryMatcher's. Written to its own section; `--only-redis` runs just
 *     (a) for MemoryMatcher and (c).
 *
 *   node --import tsx matching.ts [--waiting 100000] [--arrivals 4000]
 *        [--e2e-waiting 10000] [--e2e-arrivals 1000] [--e2e-concurrency 8] [--no-e2e] [--cpu-prof DIR] [--no-write]
 *        [--redis-url redis://127.0.0.1:6379] [--no-redis] [--only-redis]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LIMITS, type UserHash } from '@omechat/protocol';
import { Redis } from 'ioredis';
import { MemoryMatcher, RedisMatcher, type MatchPair, type MatchTicket } from '@omechat/server/internals';
import { codeRevision, describeMachine, machine, now } from './lib/machine.ts';
import { benchDatabase, dropSchema, POSTGRES_URL } from './lib/postgres.ts';
import { raiseFileLimit, startOmeChat, startRedis } from './lib/proc.ts';
import { commandLine, scriptArgs, table, writeSection } from './lib/report.ts';
import { openMany, RpcClient } from './lib/rpc.ts';
import { seedAccounts, seedPostgres } from './lib/seed.ts';
import { fmt, percentiles, ratio, Samples, sleep } from './lib/stats.ts';
import { NaiveMatcher } from './naive-matcher.ts';

const { values: args } = parseArgs({
  args: scriptArgs(),
  options: {
    waiting: { type: 'string', default: '100000' },
    arrivals: { type: 'string', default: '4000' },
    'e2e-waiting': { type: 'string', default: '10000' },
    'e2e-arrivals': { type: 'string', default: '1000' },
    'e2e-concurrency': { type: 'string', default: '8' },
    'no-e2e': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    'redis-url': { type: 'string', default: process.env.OMECHAT_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379' },
    'no-redis': { type: 'boolean', default: false },
    'only-redis': { type: 'boolean', default: false },
    'e2e-nodes': { type: 'string', default: '1' },
  },
});
const WAITING = Number(args.waiting);
const ARRIVALS = Number(args.arrivals);
const E2E_WAITING = Number(args['e2e-waiting']);
const E2E_ARRIVALS = Math.min(Number(args['e2e-arrivals']), E2E_WAITING);
const E2E_CONCURRENCY = Number(args['e2e-concurrency']);
const E2E_NODES = Number(args['e2e-nodes']);
const RELAX_MS = 3600_000;

/** A small deterministic PRNG (mulberry32), so both matchers and every run see the same tickets. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randInt = (rand: () => number, min: number, max: number) => min + Math.floor(rand() * (max - min + 1));

interface Waiting {
  age: number;
  tolerance: number;
  interest: string;
}

function makeWaiting(count: number, rand: () => number): Waiting[] {
  return Array.from({ length: count }, (_, i) => ({ age: randInt(rand, 13, 80), tolerance: randInt(rand, 0, LIMITS.toleranceMax), interest: `w${i}` }));
}

/** A random order of the waiting tickets: arrival j of kind "interest" takes targets[j]. */
function shuffled(count: number, rand: () => number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

// ---------------------------------------------------------------------------------------
// (a) in process

interface InProcessResult {
  name: string;
  fillSeconds: number;
  arrivalSeconds: number;
  pairs: number;
  matchesPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  matchedP99: number;
  inspectedPerArrival: number;
  partners: (string | null)[];
}

async function inProcess(): Promise<{
  memory: InProcessResult;
  naive: InProcessResult | null;
  redis: InProcessResult | null;
  redisConcurrent: { matchesPerSecond: number; pairs: number } | null;
  ping: { p50: number; p99: number } | null;
  agree: boolean;
  redisAgrees: boolean;
}> {
  const rand = prng(42);
  const waiting = makeWaiting(WAITING, rand);
  const targets = shuffled(WAITING, rand);
  let clock = 1_000_000;
  const waitingTickets: MatchTicket[] = waiting.map((w, i) => ({
    userHash: `waiting_${i}_padding_xx` as UserHash,
    age: w.age,
    tolerance: w.tolerance,
    interests: [w.interest],
    enqueuedAt: clock + i / 100,
  }));
  clock += WAITING / 100 + 1;
  const arrivals: MatchTicket[] = [];
  for (let j = 0; j < ARRIVALS; j++) {
    const userHash = `arrival_${j}_padding_xx` as UserHash;
    const enqueuedAt = clock + j / 100;
    if (j % 2 === 0) {
      const w = waiting[targets[j / 2]!]!;
      arrivals.push({ userHash, age: w.age, tolerance: w.tolerance, interests: [w.interest], enqueuedAt });
    } else {
      arrivals.push({ userHash, age: randInt(rand, 18, 80), tolerance: randInt(rand, 0, LIMITS.toleranceMax), interests: [], enqueuedAt });
    }
  }
  const none: ReadonlySet<UserHash> = new Set();

  const runOne = async (
    name: string,
    matcher: { enqueue(t: MatchTicket, x: ReadonlySet<UserHash>): Promise<MatchPair | null>; size(): Promise<number>; inspected?: number },
    fill: () => Promise<number>,
  ): Promise<InProcessResult> => {
    const f0 = performance.now();
    const filled = await fill();
    const fillSeconds = (performance.now() - f0) / 1000;
    if (filled !== WAITING || (await matcher.size()) !== WAITING) throw new Error(`${name}: ${filled} of ${WAITING} tickets waiting after the fill`);
    const inspected0 = matcher.inspected ?? NaN;
    const all = new Samples();
    const matched = new Samples();
    const partners: (string | null)[] = [];
    let busy = 0;
    for (const ticket of arrivals) {
      clock = ticket.enqueuedAt;
      const t0 = performance.now();
      const pair = await matcher.enqueue(ticket, none);
      const dt = performance.now() - t0;
      busy += dt;
      all.push(dt);
      if (pair) matched.push(dt);
      partners.push(pair ? pair.waiting.userHash : null);
    }
    const [p50, p99, max] = percentiles(all.values(), [50, 99, 100]);
    const pairs = matched.length;
    return {
      name,
      fillSeconds,
      arrivalSeconds: busy / 1000,
      pairs,
      matchesPerSecond: pairs / (busy / 1000),
      p50: p50!,
      p99: p99!,
      max: max!,
      matchedP99: percentiles(matched.values(), [99])[0]!,
      inspectedPerArrival: ((matcher.inspected ?? NaN) - inspected0) / arrivals.length,
      partners,
    };
  };

  const options = { interestRelaxAfterMs: RELAX_MS, now: () => clock };
  const memoryMatcher = new MemoryMatcher(options);
  const memory = await runOne('MemoryMatcher', memoryMatcher, async () => {
    let queued = 0;
    for (const t of waitingTickets) {
      clock = t.enqueuedAt;
      if ((await memoryMatcher.enqueue(t, none)) === null) queued++;
    }
    return queued;
  });
  const sameAsMemory = (r: InProcessResult | null) => r !== null && memory.partners.every((p, i) => p === r.partners[i]);
  let naive: InProcessResult | null = null;
  if (!args['only-redis']) {
    const naiveMatcher = new NaiveMatcher(options);
    naive = await runOne('naive scan', naiveMatcher, async () => {
      naiveMatcher.load(waitingTickets); // known to be mutually incompatible: MemoryMatcher queued them all
      return WAITING;
    });
  }
  let redis: InProcessResult | null = null;
  let redisConcurrent: { matchesPerSecond: number; pairs: number } | null = null;
  let ping: { p50: number; p99: number } | null = null;
  if (!args['no-redis']) {
    ping = await pingRoundTrip(args['redis-url']);
    /** A RedisMatcher on a fresh prefix holding the waiting tickets; fn gets it; keys are deleted after. */
    const withRedisMatcher = async <R>(fn: (matcher: RedisMatcher, fill: () => Promise<number>) => Promise<R>) => {
      const prefix = `omechat-bench-${process.pid}-${Math.random().toString(36).slice(2)}`;
      const matcher = new RedisMatcher({ ...options, url: args['redis-url'], prefix, leaseMs: 600_000 });
      // Pipelined: one connection keeps order, so insertion order is the memory matcher's.
      const fill = async () => {
        let queued = 0;
        for (let i = 0; i < waitingTickets.length; i += 1000) {
          const batch = waitingTickets.slice(i, i + 1000);
          clock = batch[batch.length - 1]!.enqueuedAt;
          for (const pair of await Promise.all(batch.map((t) => matcher.enqueue(t, none)))) if (pair === null) queued++;
        }
        return queued;
      };
      try {
        return await fn(matcher, fill);
      } finally {
        await matcher.close();
        await deleteKeys(args['redis-url'], `{${prefix}:match}*`);
      }
    };
    redis = await withRedisMatcher((matcher, fill) => runOne('RedisMatcher', matcher, fill));
    // Throughput as a busy node sees it: the same arrivals, IN_FLIGHT at a time.
    redisConcurrent = await withRedisMatcher(async (matcher, fill) => {
      await fill();
      clock = arrivals[arrivals.length - 1]!.enqueuedAt;
      let next = 0;
      let pairs = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next < arrivals.length) if (await matcher.enqueue(arrivals[next++]!, none)) pairs++;
        }),
      );
      return { pairs, matchesPerSecond: pairs / ((performance.now() - t0) / 1000) };
    });
  }
  return { memory, naive, redis, redisConcurrent, ping, agree: sameAsMemory(naive), redisAgrees: sameAsMemory(redis) };
}

/** The floor under any one Redis call from here: PING round trips, one at a time. */
async function pingRoundTrip(url: string): Promise<{ p50: number; p99: number }> {
  const redis = new Redis(url);
  try {
    const samples = new Samples();
    for (let i = 0; i < 2000; i++) {
      const t0 = performance.now();
      await redis.ping();
      samples.push(performance.now() - t0);
    }
    const [p50, p99] = percentiles(samples.values(), [50, 99]);
    return { p50: p50!, p99: p99! };
  } finally {
    redis.disconnect();
  }
}

const IN_FLIGHT = 16;

async function deleteKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url);
  try {
    for await (const keys of redis.scanStream({ match: pattern, count: 1000 }) as AsyncIterable<string[]>) if (keys.length > 0) await redis.unlink(...keys);
  } finally {
    redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------
// (b) end to end

interface E2eResult {
  waiting: number;
  arrivals: number;
  setupSeconds: number;
  matchesPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  rss: number;
  serverCpuPerMatchUs: number;
}

/**
 * One node on SQLite, or with `nodes` > 1 that many on PostgreSQL (a schema of this run) and a
 * private Redis carrying the bus and the matcher (OMECHAT_MATCHER=redis).
 */
async function startNodes(nodes: number, accounts: { age: number; devices: number }[], fileLimit: number, profile: boolean) {
  const env = { OMECHAT_MATCH_INTEREST_RELAX_MS: String(RELAX_MS) };
  const nodeArgs = ['--max-old-space-size=8192', ...(profile && args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', args['cpu-prof']] : [])];
  const dataDir = mkdtempSync(join(tmpdir(), 'omechat-matching-'));
  if (nodes === 1) {
    const users = await seedAccounts(dataDir, accounts);
    const server = await startOmeChat({ dataDir, fileLimit, env, nodeArgs });
    return { users, servers: [server], cleanup: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const db = benchDatabase('matching');
  const redis = await startRedis();
  const cleanup = async () => {
    await redis.stop();
    await dropSchema(db.schema);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const users = await seedPostgres(POSTGRES_URL, db.schema, accounts);
    const clusterEnv = { ...env, OMECHAT_STORAGE: 'postgres', OMECHAT_DATABASE_URL: db.serverUrl, OMECHAT_BUS: 'redis', OMECHAT_MATCHER: 'redis', OMECHAT_REDIS_URL: redis.url };
    const servers = await Promise.all(Array.from({ length: nodes }, () => startOmeChat({ dataDir, fileLimit, env: clusterEnv, nodeArgs })));
    return { users, servers, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function endToEnd(waitingCount: number, profile = false): Promise<E2eResult> {
  const t0 = performance.now();
  const rand = prng(7);
  const waiting = makeWaiting(waitingCount, rand);
  const targets = shuffled(waitingCount, rand).slice(0, E2E_ARRIVALS);
  const fileLimit = waitingCount + E2E_ARRIVALS + 1024;
  raiseFileLimit(process.pid, fileLimit);
  const { users, servers, cleanup } = await startNodes(
    E2E_NODES,
    [...waiting.map((w) => ({ age: w.age, devices: 1 })), ...targets.map((t) => ({ age: waiting[t]!.age, devices: 1 }))],
    fileLimit,
    profile,
  );
  // Waiting user i on node i mod N; arrival j on the node after its partner's, so with
  // several nodes every pair is made across nodes.
  const nodeOfUser = (i: number) => (i < waitingCount ? i : targets[i - waitingCount]! + 1) % servers.length;
  const found = new Map<number, (at: number) => void>();
  const clients: RpcClient[] = [];
  try {
    // Ports: ~28k ephemeral ports per source address, so spread over 127.0.0.x.
    const open = (i: number) =>
      RpcClient.open({
        url: servers[nodeOfUser(i)]!.url,
        credentials: users[i]!.devices[0]!,
        localAddress: `127.0.0.${1 + Math.floor(i / 20_000)}`,
        onEvents: (events, at) => {
          for (const e of events as { type: string }[]) if (e.type === 'match.found') found.get(i)?.(at);
        },
      });
    clients.push(
      ...(await openMany(waitingCount, 100, async (i) => {
        const rpc = await open(i);
        await rpc.subscribe();
        const w = waiting[i]!;
        const r = await rpc.call<{ queued: boolean }>('mutation', 'match.start', { tolerance: w.tolerance, interests: [w.interest] });
        if (!r.queued) throw new Error(`waiting user ${i} was paired during the fill`);
        return rpc;
      })),
    );
    const arrivalClients = await openMany(E2E_ARRIVALS, 100, async (j) => {
      const rpc = await open(waitingCount + j);
      await rpc.subscribe();
      return rpc;
    });
    clients.push(...arrivalClients);
    await sleep(500);
    const setupSeconds = (performance.now() - t0) / 1000;

    const latencies = new Samples();
    let next = 0;
    const cpuOfNodes = () => servers.reduce((sum, server) => sum + server.cpuSeconds(), 0);
    const cpu0 = cpuOfNodes();
    const start = performance.now();
    await Promise.all(
      Array.from({ length: E2E_CONCURRENCY }, async () => {
        while (next < E2E_ARRIVALS) {
          const j = next++;
          const target = targets[j]!;
          const w = waiting[target]!;
          const both = Promise.all([
            new Promise<number>((r) => found.set(target, r)),
            new Promise<number>((r) => found.set(waitingCount + j, r)),
          ]);
          const sent = performance.now();
          const reply = await arrivalClients[j]!.call<{ queued: boolean }>('mutation', 'match.start', {
            tolerance: w.tolerance,
            interests: [w.interest],
          });
          if (reply.queued) throw new Error(`arrival ${j} was not paired`);
          const timer = setTimeout(() => console.error(`arrival ${j} (target ${target}): match.found missing after 10 s; reply ${JSON.stringify(reply)}`), 10_000);
          const [a, b] = await both;
          clearTimeout(timer);
          latencies.push(Math.max(a, b) - sent);
        }
      }),
    );
    const elapsed = (performance.now() - start) / 1000;
    const cpu = cpuOfNodes() - cpu0;
    const [p50, p99, max] = percentiles(latencies.values(), [50, 99, 100]);
    return {
      waiting: waitingCount,
      arrivals: E2E_ARRIVALS,
      setupSeconds,
      matchesPerSecond: E2E_ARRIVALS / elapsed,
      p50: p50!,
      p99: p99!,
      max: max!,
      rss: servers.reduce((sum, server) => sum + server.memory().rss, 0),
      serverCpuPerMatchUs: (cpu * 1e6) / E2E_ARRIVALS,
    };
  } finally {
    // Closing withdraws tickets one by one; terminate instead of waiting for close handshakes.
    for (const c of clients) c.ws.terminate();
    await Promise.all(servers.map((server) => server.stop()));
    await cleanup();
  }
}

// ---------------------------------------------------------------------------------------

const m = machine();
const revision = codeRevision();
const machineLine = describeMachine(m);
console.log(`machine: ${machineLine}`);
console.log(`code: ${revision}`);
if (E2E_NODES > 1) {
  await acrossNodes();
  process.exit(0);
}

/** --e2e-nodes N: only (b), on N nodes with every pair made across nodes, in its own section. */
async function acrossNodes(): Promise<void> {
  console.log(`\n(b) end to end on ${E2E_NODES} nodes (PostgreSQL, Redis bus and matcher): ${fmt(E2E_ARRIVALS)} arrivals, ${E2E_CONCURRENCY} at a time, each on another node than its partner`);
  const r = await endToEnd(E2E_WAITING);
  console.log(
    `  ${fmt(r.waiting)} waiting: ${fmt(r.matchesPerSecond)} matches/s, match.start -> match.found (both) p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms, ` +
      `max ${fmt(r.max, 2)} ms; CPU of all nodes ${fmt(r.serverCpuPerMatchUs)} µs per match; RSS of all nodes ${fmt(r.rss / 2 ** 20)} MiB; setup ${fmt(r.setupSeconds, 1)} s`,
  );
  if (args['no-write']) return;
  writeSection(
    'matching-nodes',
    `## Matching across ${E2E_NODES} nodes

- **Machine:** ${machineLine}
- **Date:** ${now()}
- **Command:** ${commandLine('matching')}
- **Code:** ${revision}

${E2E_NODES} \`omechat-server serve\` processes on PostgreSQL (a schema of the run) and a private Redis carrying the bus and the queue (\`OMECHAT_MATCHER=redis\`), accounts seeded through PostgresStorage. ${fmt(r.waiting)} users connected, waiting user *i* on node *i mod ${E2E_NODES}*, each with \`events.stream\` open and a waiting ticket as in (a) of the matching section; then ${fmt(r.arrivals)} arrivals, ${E2E_CONCURRENCY} at a time, each on the node after its partner's (every pair is made across nodes). Latency = \`match.start\` sent -> \`match.found\` received by both users. Compare with (b) of the matching section (one node, SQLite, in-process queue).

${table(['figure', `${E2E_NODES} nodes`], [
  ['matches per second', fmt(r.matchesPerSecond)],
  ['match.start -> match.found (both users), p50', `${fmt(r.p50, 2)} ms`],
  ['match.start -> match.found (both users), p99', `${fmt(r.p99, 2)} ms`],
  ['... max', `${fmt(r.max, 2)} ms`],
  ['CPU of all nodes per match', `${fmt(r.serverCpuPerMatchUs)} µs`],
  ['RSS of all nodes after the run', `${fmt(r.rss / 2 ** 20)} MiB`],
  ['setup (seed, connect, queue)', `${fmt(r.setupSeconds, 1)} s`],
])}
`,
  );
}

console.log(`\n(a) in process: ${fmt(WAITING)} tickets waiting, ${fmt(ARRIVALS)} arrivals (half take a waiting ticket by interest, half plain)`);
const a = await inProcess();
for (const r of [a.memory, a.naive, a.redis]) {
  if (!r) continue;
  console.log(
    `  ${r.name.padEnd(13)} ${fmt(r.matchesPerSecond)} matches/s (${r.pairs} pairs), enqueue p50 ${fmt(r.p50 * 1000, 1)} µs, p99 ${fmt(r.p99 * 1000, 1)} µs ` +
      `(matching arrivals: p99 ${fmt(r.matchedP99 * 1000, 1)} µs), max ${fmt(r.max * 1000)} µs, ${fmt(r.inspectedPerArrival, 1)} tickets inspected per arrival; ` +
      `fill ${fmt(r.fillSeconds, 2)} s`,
  );
}
if (a.naive) {
  console.log(
    `  ratio MemoryMatcher/naive: matches/s ${ratio(a.memory.matchesPerSecond, a.naive.matchesPerSecond)}, p99 ${ratio(a.memory.p99, a.naive.p99)}; ` +
      `same partner for every arrival: ${a.agree ? 'yes' : 'NO'}`,
  );
}
if (a.redis) console.log(`  RedisMatcher chose the same partner as MemoryMatcher for every arrival: ${a.redisAgrees ? 'yes' : 'NO'}`);
if (a.ping) console.log(`  Redis PING round trip: p50 ${fmt(a.ping.p50 * 1000, 1)} µs, p99 ${fmt(a.ping.p99 * 1000, 1)} µs`);
if (a.redisConcurrent) console.log(`  RedisMatcher, ${IN_FLIGHT} enqueues in flight: ${fmt(a.redisConcurrent.matchesPerSecond)} matches/s (${a.redisConcurrent.pairs} pairs)`);

let e2e: { full: E2eResult; small: E2eResult } | undefined;
if (!args['no-e2e'] && !args['only-redis']) {
  console.log(`\n(b) end to end: ${fmt(E2E_ARRIVALS)} arrivals, ${E2E_CONCURRENCY} at a time, each taking one waiting user by interest`);
  const small = await endToEnd(E2E_ARRIVALS);
  const full = await endToEnd(E2E_WAITING, true);
  for (const r of [small, full]) {
    console.log(
      `  ${fmt(r.waiting).padStart(7)} waiting: ${fmt(r.matchesPerSecond)} matches/s, match.start -> match.found (both) p50 ${fmt(r.p50, 2)} ms, ` +
        `p99 ${fmt(r.p99, 2)} ms, max ${fmt(r.max, 2)} ms; server CPU ${fmt(r.serverCpuPerMatchUs)} µs per match; ` +
        `server RSS ${fmt(r.rss / 2 ** 20)} MiB; setup ${fmt(r.setupSeconds, 1)} s`,
    );
  }
  console.log(
    `  ratio ${fmt(E2E_WAITING)} waiting / ${fmt(E2E_ARRIVALS)} waiting: matches/s ${ratio(full.matchesPerSecond, small.matchesPerSecond)}, ` +
      `p99 ${ratio(full.p99, small.p99)}`,
  );
  e2e = { full, small };
}

const us = (ms: number) => `${fmt(ms * 1000, 1)} µs`;
if (!args['no-write'] && a.redis) {
  const redis = a.redis;
  const row = (what: string, of: (r: InProcessResult) => number, show: (n: number) => string, target = '') => [what, show(of(redis)), show(of(a.memory)), target];
  writeSection(
    'matching-redis',
    `## Matching in Redis (RedisMatcher)

- **Machine:** ${machineLine}
- **Date:** ${now()}
- **Command:** ${commandLine('matching')}
- **Code:** ${revision}

\`RedisMatcher\` (\`OMECHAT_MATCHER=redis\`) in process against the local Redis (${args['redis-url']}), with the same ${fmt(WAITING)} waiting tickets and the same ${fmt(ARRIVALS)} arrivals as the in-process matching section above, under the same fake clock. The fill is pipelined (1,000 enqueues in flight on one connection, which keeps their order); each arrival is one \`enqueue\`, awaited before the next, so every figure includes one loopback round trip to Redis. RedisMatcher chose the same partner as MemoryMatcher for every arrival: **${a.redisAgrees ? 'yes' : 'NO'}**.

${table(['figure', 'RedisMatcher', 'MemoryMatcher (same run)', 'target (issue 12)'], [
  row('matches per second', (r) => r.matchesPerSecond, (n) => fmt(n), '>= 5,000'),
  row('enqueue latency p50 (all arrivals)', (r) => r.p50, us),
  row('enqueue latency p99 (all arrivals)', (r) => r.p99, us, '<= 5 ms'),
  row('enqueue latency p99 (arrivals that paired)', (r) => r.matchedP99, us),
  row('enqueue latency max', (r) => r.max, us),
  row('pairs made', (r) => r.pairs, (n) => fmt(n)),
  row('fill (100k enqueues)', (r) => r.fillSeconds, (n) => `${fmt(n, 2)} s`),
  ['matches per second, ' + IN_FLIGHT + ' enqueues in flight (a busy node)', a.redisConcurrent ? fmt(a.redisConcurrent.matchesPerSecond) : '-', '-', '>= 5,000'],
  ['Redis PING round trip p50 / p99 (same run: the floor under one enqueue)', a.ping ? `${us(a.ping.p50)} / ${us(a.ping.p99)}` : '-', '-', ''],
])}

Load on this machine while it ran is given in the machine line: the same run's MemoryMatcher figures are the yardstick (compare them with the in-process section above, measured at another time).
`,
  );
}
if (!args['no-write'] && a.naive && !args['only-redis']) {
  const naive = a.naive;
  const rowA = (what: string, of: (r: InProcessResult) => number, show: (n: number) => string) => [what, show(of(a.memory)), show(of(naive)), ratio(of(a.memory), of(naive))];
  let e2eText = '(not run: --no-e2e)';
  if (e2e) {
    const { full, small } = e2e;
    const rowB = (what: string, of: (r: E2eResult) => number, show: (n: number) => string) => [what, show(of(full)), show(of(small)), ratio(of(full), of(small))];
    e2eText = `${table(['figure', `${fmt(full.waiting)} waiting`, `baseline: ${fmt(small.waiting)} waiting`, 'ratio'], [
      rowB('matches per second', (r) => r.matchesPerSecond, (n) => fmt(n)),
      rowB('match.start -> match.found (both users), p50', (r) => r.p50, (n) => `${fmt(n, 2)} ms`),
      rowB('match.start -> match.found (both users), p99', (r) => r.p99, (n) => `${fmt(n, 2)} ms`),
      rowB('... max', (r) => r.max, (n) => `${fmt(n, 2)} ms`),
      rowB('server CPU per match', (r) => r.serverCpuPerMatchUs, (n) => `${fmt(n)} µs`),
      rowB('server RSS after the run', (r) => r.rss / 2 ** 20, (n) => `${fmt(n)} MiB`),
      rowB('setup (seed, connect, queue)', (r) => r.setupSeconds, (n) => `${fmt(n, 1)} s`),
    ])}`;
  }
  writeSection(
    'matching',
    `## Matching

- **Machine:** ${machineLine}
- **Date:** ${now()}
- **Command:** ${commandLine('matching')}
- **Code:** ${revision}

### (a) In process: ${fmt(WAITING)} tickets waiting

The server's \`MemoryMatcher\` against \`bench/naive-matcher.ts\` (the same rules, scanning every waiting ticket oldest first), fed the same tickets under the same fake clock. ${fmt(WAITING)} waiting tickets that cannot pair with each other (ages 13-80, tolerance 0-5, each with its own interest, none relaxed), then ${fmt(ARRIVALS)} arrivals: half take one random waiting ticket by its interest, half have no interests and can only pair with each other. Latency = one \`enqueue\` call (the match.start -> pair step); matches/s = pairs / time inside \`enqueue\`. Both matchers chose the same partner for every arrival: **${a.agree ? 'yes' : 'NO'}**. The naive queue is bulk-loaded (searching on each of 100k fills would cost O(n^2)).

${table(['figure', 'MemoryMatcher', 'naive scan baseline', 'MemoryMatcher/naive'], [
  rowA('matches per second', (r) => r.matchesPerSecond, (n) => fmt(n)),
  rowA('enqueue latency p50 (all arrivals)', (r) => r.p50, us),
  rowA('enqueue latency p99 (all arrivals)', (r) => r.p99, us),
  rowA('enqueue latency p99 (arrivals that paired)', (r) => r.matchedP99, us),
  rowA('enqueue latency max', (r) => r.max, us),
  rowA('tickets inspected per arrival', (r) => r.inspectedPerArrival, (n) => fmt(n, 1)),
  rowA('pairs made', (r) => r.pairs, (n) => fmt(n)),
])}

MemoryMatcher filled its ${fmt(WAITING)}-ticket queue through \`enqueue\` in ${fmt(a.memory.fillSeconds, 2)} s.

### (b) End to end through the server

\`omechat-server serve\` in a child process, SQLite in the temp dir, accounts seeded through its Storage adapter. Rate limits stay on (memory store) but raised out of reach, since all load comes from one loopback network (\`BENCH_SERVER_ENV\` in \`bench/lib/proc.ts\`). ${e2e ? fmt(e2e.full.waiting) : 'N'} users connected, each with \`events.stream\` open and a waiting ticket built as in (a); then ${fmt(E2E_ARRIVALS)} arrivals, ${E2E_CONCURRENCY} at a time, each calling \`match.start\` with the interest, age and tolerance of one waiting user. Latency = \`match.start\` sent -> \`match.found\` received by both users. Baseline in the same run: a fresh server where only the ${fmt(E2E_ARRIVALS)} partners wait. \`OMECHAT_MATCH_INTEREST_RELAX_MS=3600000\` so the waiting tickets do not relax and pair with each other. End to end is not run at 100,000 waiting by default: each waiting ticket needs its own live, authenticated connection, and setting up ${e2e ? `${fmt(e2e.full.waiting)} of them took ${fmt(e2e.full.setupSeconds)} s` : 'them takes long'} here, so 100,000 would take several minutes (and ~100k sockets); run it with \`--e2e-waiting 100000\` to try.

${e2eText}
`,
  );
}
