/**
 * Relay benchmark: N concurrent pairs over real sockets on loopback.
 *
 * For each N, two servers, each in its own child process so its CPU time and RSS are read
 * from /proc apart from this load generator's:
 *   - OmeChat: `omechat-server serve`, SQLite in a temp dir, accounts seeded through its
 *     Storage adapter; each pair matched with `match.start`; every client subscribed to
 *     `events.stream`; messages sent with `message.send` (100-byte ciphertext envelopes);
 *   - baseline: bench/baseline-server.ts, a bare `ws` relay that takes the same frames and
 *     pushes the same `message.new` frame to the peer, with no framework and no storage.
 * Two phases per server: "saturated" (every client keeps `--window` sends awaiting their ack,
 * both directions) for throughput and CPU per message, then "paced" (a fixed total rate,
 * the same for both servers) for latency when the server is not the bottleneck.
 * Latency = send of the message.send frame -> arrival of the peer's message.new frame,
 * both timed in this process.
 *
 *   node --import tsx relay.ts [--pairs 50,500] [--seconds 10] [--warmup 2] [--window 2]
 *                              [--paced-rate 100] [--paced-seconds 5] [--cpu-prof DIR] [--no-write]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { codeRevision, describeMachine, machine, now } from './lib/machine.ts';
import { startBaseline, startOmeChat, type ServerProcess } from './lib/proc.ts';
import { commandLine, table, writeSection } from './lib/report.ts';
import { openMany, RpcClient, type Credentials } from './lib/rpc.ts';
import { probeCommitMs, seedAccounts } from './lib/seed.ts';
import { fmt, percentiles, ratio, Samples, sleep } from './lib/stats.ts';

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '50,500' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    window: { type: 'string', default: '2' },
    'paced-rate': { type: 'string', default: '100' },
    'paced-seconds': { type: 'string', default: '5' },
    'cpu-prof': { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
});
const PAIRS = args.pairs.split(',').map(Number);
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);
const WINDOW = Number(args.window);
const PACED_RATE = Number(args['paced-rate']);
const PACED_SECONDS = Number(args['paced-seconds']);

const RING = 1 << 16;
const CIPHERTEXT = randomBytes(100).toString('base64url'); // 100 bytes of "ciphertext"

interface MessageNew {
  type: 'message.new';
  message: { senderClientHash: string; envelope: { parts: { header: string }[] } };
}

/** One side of a pair: sends to its peer, timestamps sends, measures the peer's deliveries. */
class Endpoint {
  rpc!: RpcClient;
  peer!: Endpoint;
  chatId = '';
  readonly sentAt = new Float64Array(RING);
  counter = 0;
  inFlight = 0;
  framePrefix = '';
  constructor(
    readonly index: number,
    readonly creds: Credentials,
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
    const id = this.rpc.reserveId();
    const header = c.toString(36);
    const frame = `{"id":${id},${this.framePrefix}${header}"}]},"clientMessageId":"b${this.index}-${header}"}}}`;
    this.inFlight++;
    this.stats.sent++;
    this.sentAt[c & (RING - 1)] = performance.now();
    this.rpc.sendRaw(id, frame, 'message.send', this.onAck, this.onFail);
  }

  readonly onAck = () => {
    this.inFlight--;
    this.stats.acked++;
    if (this.stats.saturate) this.send();
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
  };
}

class RunStats {
  saturate = false;
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

interface PhaseResult {
  seconds: number;
  delivered: number;
  perSecond: number;
  p50: number;
  p99: number;
  serverCpuUsPerMsg: number;
  serverCpuPct: number;
  /** Share of the server's CPU time spent in the kernel (syscalls: socket writes, fsync). */
  serverSysShare: number;
  loadgenCpuPct: number;
  framesInPerMsg: number;
}

interface TargetResult {
  target: 'omechat' | 'baseline';
  pairs: number;
  setupSeconds: number;
  saturated: PhaseResult;
  paced: PhaseResult;
  rssIdle: number;
  /** Server CPU with every client connected and nothing sent, % of a core. */
  idleCpuPct: number;
  rssEnd: number;
  rssPeak: number;
  errors: number;
  lost: number;
  echoesPerMsg: number;
  otherEventsPerMsg: number;
}

async function measure(
  server: ServerProcess,
  endpoints: Endpoint[],
  stats: RunStats,
  seconds: number,
  during: () => void,
): Promise<PhaseResult> {
  const framesIn = () => endpoints.reduce((n, e) => n + e.rpc.framesIn, 0);
  stats.latency.clear();
  stats.windowDelivered = 0;
  const cpu0 = server.cpuTimes();
  const load0 = process.cpuUsage();
  const frames0 = framesIn();
  const t0 = performance.now();
  stats.measuring = true;
  during();
  await sleep(seconds * 1000);
  stats.measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = server.cpuTimes();
  const sys = cpu1.system - cpu0.system;
  const cpu = cpu1.user - cpu0.user + sys;
  const load = process.cpuUsage(load0);
  const frames = framesIn() - frames0;
  const [p50, p99] = percentiles(stats.latency.values(), [50, 99]);
  const delivered = stats.windowDelivered;
  return {
    seconds: elapsed,
    delivered,
    perSecond: delivered / elapsed,
    p50: p50!,
    p99: p99!,
    serverCpuUsPerMsg: (cpu * 1e6) / delivered,
    serverCpuPct: (cpu / elapsed) * 100,
    serverSysShare: sys / cpu,
    loadgenCpuPct: ((load.user + load.system) / 1e6 / elapsed) * 100,
    framesInPerMsg: frames / delivered,
  };
}

async function drain(endpoints: Endpoint[], stats: RunStats): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const inFlight = endpoints.some((e) => e.inFlight > 0);
    if (!inFlight && stats.delivered >= stats.acked) return;
    await sleep(20);
  }
}

async function run(target: 'omechat' | 'baseline', pairs: number): Promise<TargetResult> {
  const t0 = performance.now();
  const stats = new RunStats();
  let server: ServerProcess;
  let dataDir: string | undefined;
  const endpoints: Endpoint[] = [];
  if (target === 'omechat') {
    dataDir = mkdtempSync(join(tmpdir(), 'omechat-relay-'));
    const users = await seedAccounts(dataDir, Array.from({ length: pairs * 2 }, () => ({ age: 30, devices: 1 })));
    server = await startOmeChat({
      dataDir,
      nodeArgs: args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', args['cpu-prof']] : [],
    });
    console.log(`  omechat server pid ${server.pid}, data in ${dataDir}`);
    users.forEach((u, i) => endpoints.push(new Endpoint(i, u.devices[0]!, stats)));
  } else {
    server = await startBaseline();
    for (let i = 0; i < pairs * 2; i++) {
      endpoints.push(new Endpoint(i, { clientHash: randomBytes(16).toString('base64url'), accessToken: randomBytes(32).toString('base64url') }, stats));
    }
  }
  try {
    await openMany(endpoints.length, 64, async (i) => {
      const e = endpoints[i]!;
      e.rpc = await RpcClient.open({ url: server.url, credentials: e.creds, onEvents: e.onEvents });
      await e.rpc.subscribe();
    });
    for (let p = 0; p < pairs; p++) {
      const a = endpoints[2 * p]!;
      const b = endpoints[2 * p + 1]!;
      a.peer = b;
      b.peer = a;
      if (target === 'omechat') {
        // Sequential, all age 30, tolerance 0: b's only compatible waiting ticket is a's.
        const first = await a.rpc.call<{ queued: boolean }>('mutation', 'match.start', { tolerance: 0 });
        const second = await b.rpc.call<{ queued: boolean; chatId: string }>('mutation', 'match.start', { tolerance: 0 });
        if (!first.queued || second.queued || !second.chatId) throw new Error(`pair ${p} did not match`);
        a.chatId = b.chatId = second.chatId;
      } else {
        a.chatId = b.chatId = randomUUID();
        await a.rpc.call('mutation', 'bench.join', { chatId: a.chatId });
        await b.rpc.call('mutation', 'bench.join', { chatId: b.chatId });
      }
      a.prepare();
      b.prepare();
    }
    await sleep(500); // match.found events and their receipts settle
    const setupSeconds = (performance.now() - t0) / 1000;
    const rssIdle = server.memory().rss;
    const idle0 = server.cpuSeconds();
    await sleep(2000);
    const idleCpuPct = ((server.cpuSeconds() - idle0) / 2) * 100;

    // Saturated: each client keeps WINDOW sends in flight.
    stats.saturate = true;
    for (const e of endpoints) for (let w = 0; w < WINDOW; w++) e.send();
    await sleep(WARMUP * 1000);
    const saturated = await measure(server, endpoints, stats, SECONDS, () => undefined);
    stats.saturate = false;
    await drain(endpoints, stats);

    // Paced: PACED_RATE messages/s in total, round-robin over the clients, every 5 ms.
    let timer: NodeJS.Timeout | undefined;
    let next = 0;
    let owed = 0;
    let last = performance.now();
    const tick = () => {
      const t = performance.now();
      owed += ((t - last) / 1000) * PACED_RATE;
      last = t;
      for (; owed >= 1; owed--) endpoints[next++ % endpoints.length]!.send();
    };
    timer = setInterval(tick, 5);
    await sleep(1000);
    const paced = await measure(server, endpoints, stats, PACED_SECONDS, () => undefined);
    clearInterval(timer);
    timer = undefined;
    await drain(endpoints, stats);
    const mem = server.memory();
    const lost = stats.acked - stats.delivered;
    return {
      target,
      pairs,
      setupSeconds,
      saturated,
      paced,
      rssIdle,
      idleCpuPct,
      rssEnd: mem.rss,
      rssPeak: mem.peak,
      errors: stats.errors,
      lost,
      echoesPerMsg: stats.echoes / Math.max(1, stats.delivered),
      otherEventsPerMsg: stats.otherEvents / Math.max(1, stats.delivered),
    };
  } finally {
    await Promise.all(endpoints.map((e) => e.rpc?.close()));
    await server.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

const MiB = (b: number) => fmt(b / 2 ** 20, 1);

function printResult(r: TargetResult) {
  const s = r.saturated;
  const p = r.paced;
  console.log(
    `  ${r.target.padEnd(8)} saturated: ${fmt(s.perSecond)} msg/s, p50 ${fmt(s.p50, 2)} ms, p99 ${fmt(s.p99, 2)} ms, ` +
      `server CPU ${fmt(s.serverCpuUsPerMsg, 1)} µs/msg (${fmt(s.serverCpuPct)}% of a core, ${fmt(s.serverSysShare * 100)}% in kernel), load generator ${fmt(s.loadgenCpuPct)}%, ` +
      `${fmt(s.framesInPerMsg, 2)} frames in per delivered msg`,
  );
  console.log(
    `  ${''.padEnd(8)} paced ${PACED_RATE}/s: ${fmt(p.perSecond)} msg/s, p50 ${fmt(p.p50, 2)} ms, p99 ${fmt(p.p99, 2)} ms, ` +
      `server CPU ${fmt(p.serverCpuUsPerMsg, 1)} µs/msg (idle, nothing sent: ${fmt(r.idleCpuPct, 1)}% of a core)`,
  );
  console.log(
    `  ${''.padEnd(8)} server RSS ${MiB(r.rssIdle)} MiB idle -> ${MiB(r.rssEnd)} MiB (peak ${MiB(r.rssPeak)}); ` +
      `setup ${fmt(r.setupSeconds, 1)} s; errors ${r.errors}; acked but not delivered ${r.lost}; ` +
      `per delivered msg: ${fmt(r.echoesPerMsg, 2)} echoes to sender, ${fmt(r.otherEventsPerMsg, 2)} other events`,
  );
}

const m = machine();
const revision = codeRevision();
const machineLine = describeMachine(m);
console.log(`machine: ${machineLine}`);
console.log(`code: ${revision}`);
const commitMs = await probeCommitMs();
console.log(`SQLite durable commit (server adapter, synchronous=FULL) in the temp dir: median ${fmt(commitMs, 3)} ms`);
const results: { pairs: number; omechat: TargetResult; baseline: TargetResult }[] = [];
for (const pairs of PAIRS) {
  console.log(`\n${pairs} pairs (${pairs * 2} connections), window ${WINDOW} per client, ${SECONDS} s measured after ${WARMUP} s warm-up`);
  const baseline = await run('baseline', pairs);
  printResult(baseline);
  const omechat = await run('omechat', pairs);
  printResult(omechat);
  console.log(
    `  ratio OmeChat/baseline: throughput ${ratio(omechat.saturated.perSecond, baseline.saturated.perSecond)}, ` +
      `p50 ${ratio(omechat.saturated.p50, baseline.saturated.p50)} (paced ${ratio(omechat.paced.p50, baseline.paced.p50)}), ` +
      `p99 ${ratio(omechat.saturated.p99, baseline.saturated.p99)} (paced ${ratio(omechat.paced.p99, baseline.paced.p99)}), ` +
      `CPU/msg ${ratio(omechat.saturated.serverCpuUsPerMsg, baseline.saturated.serverCpuUsPerMsg)}`,
  );
  results.push({ pairs, omechat, baseline });
}

if (!args['no-write']) {
  const rows: (string | number)[][] = [];
  for (const { pairs, omechat: o, baseline: b } of results) {
    const row = (what: string, of: (r: TargetResult) => number, digits: number, unit = '') => [
      pairs,
      what,
      `${fmt(of(o), digits)}${unit}`,
      `${fmt(of(b), digits)}${unit}`,
      ratio(of(o), of(b)),
    ];
    rows.push(
      row('delivered msg/s (saturated)', (r) => r.saturated.perSecond, 0),
      row('latency p50 (saturated)', (r) => r.saturated.p50, 2, ' ms'),
      row('latency p99 (saturated)', (r) => r.saturated.p99, 2, ' ms'),
      row(`latency p50 (paced ${PACED_RATE} msg/s)`, (r) => r.paced.p50, 2, ' ms'),
      row(`latency p99 (paced ${PACED_RATE} msg/s)`, (r) => r.paced.p99, 2, ' ms'),
      row('server CPU per msg (saturated)', (r) => r.saturated.serverCpuUsPerMsg, 1, ' µs'),
      row(`server CPU per msg (paced)`, (r) => r.paced.serverCpuUsPerMsg, 1, ' µs'),
      row('server CPU, connected and idle', (r) => r.idleCpuPct, 1, '% of a core'),
      row('server CPU (saturated)', (r) => r.saturated.serverCpuPct, 0, '% of a core'),
      row('of which in the kernel (saturated)', (r) => r.saturated.serverSysShare * 100, 0, '%'),
      row('load generator CPU (saturated)', (r) => r.saturated.loadgenCpuPct, 0, '% of a core'),
      row('frames to clients per delivered msg', (r) => r.saturated.framesInPerMsg, 2),
      row('server RSS, connected and idle', (r) => r.rssIdle / 2 ** 20, 1, ' MiB'),
      row('server RSS after the run (peak)', (r) => r.rssPeak / 2 ** 20, 1, ' MiB'),
    );
    rows.push([pairs, 'send errors / acked but not delivered', `${o.errors} / ${o.lost}`, `${b.errors} / ${b.lost}`, '']);
  }
  writeSection(
    'relay',
    `## Relay

- **Machine:** ${machineLine}
- **Date:** ${now()}
- **Command:** ${commandLine('relay')}
- **Code:** ${revision}
- **Setup:** server and baseline each in a child process (CPU from /proc/<pid>/stat utime+stime, RSS from /proc/<pid>/status), load generator in the parent on the same cores, loopback.
  OmeChat: \`omechat-server serve\`, SQLite in the temp dir, accounts seeded through its Storage adapter, pairs matched with \`match.start\`, every client subscribed to \`events.stream\`, 100-byte ciphertext envelopes through \`message.send\`.
  Baseline: \`bench/baseline-server.ts\`, a bare \`ws\` relay answering the same frames (ack + \`message.new\` push), no framework, no storage.
  Rate limits stay on (memory store) but raised out of reach, since all load comes from one loopback network (\`BENCH_SERVER_ENV\` in \`bench/lib/proc.ts\`).
  Saturated: every client keeps ${WINDOW} sends awaiting their ack, both directions, ${SECONDS} s measured after ${WARMUP} s warm-up. Paced: ${PACED_RATE} msg/s in total, ${PACED_SECONDS} s.
  Latency: \`message.send\` frame sent -> peer's \`message.new\` frame received, both timed in the load generator. Saturated latency is mostly queueing (sends in flight / throughput); the paced rows are the latency of a server that keeps up.
  The load generator shares the cores: when it is near 100% of a core (the baseline), the baseline's throughput is a floor, and CPU per message is the figure to compare.
- **SQLite durable commit** (the server's adapter, synchronous=FULL, temp dir): median ${fmt(commitMs, 3)} ms, during which the server's event loop waits.

${table(['pairs', 'figure', 'OmeChat', 'bare ws baseline', 'OmeChat/baseline'], rows)}
`,
  );
}
