/**
 * Memory benchmark: server memory per idle authenticated connection with its event stream
 * open, at 5,000 connections on loopback.
 *
 * OmeChat: `omechat-server serve` (SQLite in a temp dir) in a child process; 313 accounts
 * with 16 devices each (the most an account may have) seeded through its Storage adapter;
 * every connection signs in with its own device's connectionParams and opens
 * `events.stream`. Baselines, each holding the same number of connections:
 *   - ws: bench/baseline-server.ts, a bare `ws` server answering the same handshake frames;
 *   - socketio: bench/baseline-socketio.ts, Socket.IO 4 (credentials in the handshake's
 *     `auth`, then a "subscribe" event with an ack);
 *   - trpc: bench/baseline-trpc.ts, stock tRPC v11 (applyWSSHandler), the same frames.
 * Every child runs with --expose-gc and bench/lib/gc-probe.mjs, so figures are read after a
 * full GC; RSS from /proc/<pid>/status. Per connection = (after - before) / connections,
 * "before" being the same server started and settled with no connection. Handshake CPU =
 * the server's utime+stime while the connections open (connect, connectionParams, stream
 * start), per connection.
 *
 *   node --import tsx memory.ts [--connections 5000] [--settle 3] [--stacks ws,socketio,trpc,omechat] [--no-write]
 *
 * Opening 5,000 sockets needs about 5,100 open files in each process; both limits are
 * raised with prlimit(1) where allowed (root may raise the hard limit).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LIMITS } from '@omechat/protocol';
import { codeRevision, describeMachine, machine, now } from './lib/machine.ts';
import { randomBytes } from 'node:crypto';
import { GC_PROBE_ARGS, raiseFileLimit, startBaseline, startOmeChat, type ServerProcess } from './lib/proc.ts';
import { commandLine, scriptArgs, table, writeSection } from './lib/report.ts';
import { openMany, RpcClient, type Credentials } from './lib/rpc.ts';
import { seedAccounts } from './lib/seed.ts';
import { SioClient } from './lib/sio.ts';
import { fmt, ratio, sleep } from './lib/stats.ts';

const { values: args } = parseArgs({
  args: scriptArgs(),
  options: {
    connections: { type: 'string', default: '5000' },
    settle: { type: 'string', default: '3' },
    stacks: { type: 'string', default: 'ws,socketio,trpc,omechat' },
    'no-write': { type: 'boolean', default: false },
  },
});
const CONNECTIONS = Number(args.connections);
const SETTLE_MS = Number(args.settle) * 1000;
const FILE_LIMIT = CONNECTIONS + 1024;
const STACKS = ['ws', 'socketio', 'trpc', 'omechat'] as const;
type Stack = (typeof STACKS)[number];
const SELECTED = args.stacks.split(',') as Stack[];
if (SELECTED.some((s) => !STACKS.includes(s))) throw new Error(`--stacks: each of ${STACKS.join(', ')}`);
const LABEL: Record<Stack, string> = { ws: 'bare ws', socketio: 'Socket.IO 4', trpc: 'stock tRPC v11', omechat: 'OmeChat' };
/** Issue 8's target: RSS per idle authenticated connection with its stream open. */
const TARGET_RSS_KIB = 12;

interface Result {
  target: Stack;
  before: { rss: number; heapUsed: number; external: number };
  after: { rss: number; heapUsed: number; external: number };
  openSeconds: number;
  serverCpuPerConnectionUs: number;
  closedEarly: number;
}

async function run(target: Stack): Promise<Result> {
  let server: ServerProcess;
  let dataDir: string | undefined;
  let devices: Credentials[];
  if (target === 'omechat') {
    dataDir = mkdtempSync(join(tmpdir(), 'omechat-memory-'));
    const perUser = LIMITS.maxClientsPerUser;
    const users = await seedAccounts(
      dataDir,
      Array.from({ length: Math.ceil(CONNECTIONS / perUser) }, () => ({ age: 30, devices: perUser })),
    );
    devices = users.flatMap((u) => u.devices).slice(0, CONNECTIONS);
    server = await startOmeChat({ dataDir, nodeArgs: GC_PROBE_ARGS, fileLimit: FILE_LIMIT });
  } else {
    // The baselines take any credentials.
    devices = Array.from({ length: CONNECTIONS }, () => ({
      clientHash: randomBytes(16).toString('base64url'),
      accessToken: randomBytes(32).toString('base64url'),
    }));
    server = await startBaseline({ kind: target, nodeArgs: GC_PROBE_ARGS, fileLimit: FILE_LIMIT });
  }
  const clients: (RpcClient | SioClient)[] = [];
  let closedEarly = 0;
  try {
    await sleep(SETTLE_MS);
    const before = await server.collectAndMeasure();
    const cpu0 = server.cpuSeconds();
    const t0 = performance.now();
    clients.push(
      ...(await openMany(CONNECTIONS, 100, async (i) => {
        const opts = { url: server.url, credentials: devices[i]!, onClose: () => closedEarly++ };
        const client = target === 'socketio' ? await SioClient.open(opts) : await RpcClient.open(opts);
        await client.subscribe();
        return client;
      })),
    );
    const openSeconds = (performance.now() - t0) / 1000;
    const serverCpuPerConnectionUs = ((server.cpuSeconds() - cpu0) * 1e6) / CONNECTIONS;
    await sleep(SETTLE_MS);
    const after = await server.collectAndMeasure();
    return { target, before, after, openSeconds, serverCpuPerConnectionUs, closedEarly };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

const perConnection = (r: Result, key: 'rss' | 'heapUsed' | 'external') => (r.after[key] - r.before[key]) / CONNECTIONS;
const KiB = (b: number) => fmt(b / 1024, 1);
const MiB = (b: number) => fmt(b / 2 ** 20, 1);

const m = machine();
const revision = codeRevision();
const machineLine = describeMachine(m);
console.log(`machine: ${machineLine}`);
console.log(`code: ${revision}`);
const ownLimit = raiseFileLimit(process.pid, FILE_LIMIT);
if (ownLimit < FILE_LIMIT) console.warn(`warning: this process may open only ${ownLimit} files; ${FILE_LIMIT} wanted`);
console.log(`${CONNECTIONS} idle connections, each authenticated with its own device and with events.stream open\n`);

const results: Result[] = [];
for (const target of SELECTED) {
  const r = await run(target);
  results.push(r);
  console.log(
    `  ${LABEL[target].padEnd(15)} RSS ${MiB(r.before.rss)} -> ${MiB(r.after.rss)} MiB: ${KiB(perConnection(r, 'rss'))} KiB per connection ` +
      `(V8 heap ${KiB(perConnection(r, 'heapUsed'))} KiB, external ${KiB(perConnection(r, 'external'))} KiB); ` +
      `opened in ${fmt(r.openSeconds, 1)} s (${fmt(CONNECTIONS / r.openSeconds)} /s), handshake CPU ${fmt(r.serverCpuPerConnectionUs)} µs per connection; ` +
      `closed by the server: ${r.closedEarly}`,
  );
}
const of = (stack: Stack) => results.find((r) => r.target === stack);
const [o, ws, sio] = [of('omechat'), of('ws'), of('socketio')];
const targets: string[][] = [];
if (o) {
  const kib = perConnection(o, 'rss') / 1024;
  targets.push(['RSS per idle authenticated connection, stream open', `${fmt(kib, 1)} KiB`, `<= ${TARGET_RSS_KIB} KiB`, sio ? ratio(perConnection(o, 'rss'), perConnection(sio, 'rss')) : '', kib <= TARGET_RSS_KIB ? 'pass' : 'FAIL']);
  if (ws) targets.push(['handshake CPU per connection (connect, connectionParams, stream start)', `${fmt(o.serverCpuPerConnectionUs)} µs`, `reported against bare ws: ${fmt(ws.serverCpuPerConnectionUs)} µs`, ratio(o.serverCpuPerConnectionUs, ws.serverCpuPerConnectionUs), '']);
  for (const t of targets) console.log(`  ${t[4] || '    '}  ${t[0]}: ${t[1]} (${t[2]}; ${t[3]})`);
}

if (!args['no-write']) {
  const row = (what: string, value: (r: Result) => number, show: (n: number) => string) => [what, ...results.map((r) => show(value(r)))];
  writeSection(
    'memory',
    `## Memory

- **Machine:** ${machineLine}
- **Date:** ${now()}
- **Command:** ${commandLine('memory')}
- **Code:** ${revision}
- **Setup:** ${fmt(CONNECTIONS)} idle WebSocket connections on loopback per server, each server alone in its child process, one after another. OmeChat: \`omechat-server serve\`, SQLite in the temp dir, ${Math.ceil(CONNECTIONS / LIMITS.maxClientsPerUser)} accounts x ${LIMITS.maxClientsPerUser} devices seeded through its Storage port; each connection authenticates with its own device in connectionParams and opens \`events.stream\`. Baselines: bare \`ws\` (\`bench/baseline-server.ts\`) and stock tRPC v11 (\`bench/baseline-trpc.ts\`) take the same frames; Socket.IO 4 (\`bench/baseline-socketio.ts\`) takes the credentials in its handshake \`auth\` and a "subscribe" event with an ack. Rate limits stay on in OmeChat (memory store) but are raised out of reach, since all load comes from one loopback network (\`BENCH_SERVER_ENV\` in \`bench/lib/proc.ts\`). Every server runs with \`--expose-gc\`; figures after a full GC, ${args.settle} s after the last connection opened; per connection = (with connections - without) / ${fmt(CONNECTIONS)}. Handshake CPU = the server's utime+stime while the connections open (100 handshakes in flight), per connection.

${table(['figure', ...results.map((r) => LABEL[r.target])], [
  row('RSS per connection', (r) => perConnection(r, 'rss'), (n) => `${KiB(n)} KiB`),
  row('V8 heap used per connection', (r) => perConnection(r, 'heapUsed'), (n) => `${KiB(n)} KiB`),
  row('external (buffers) per connection', (r) => perConnection(r, 'external'), (n) => `${KiB(n)} KiB`),
  row('RSS with no connection', (r) => r.before.rss, (n) => `${MiB(n)} MiB`),
  row(`RSS with ${fmt(CONNECTIONS)} connections`, (r) => r.after.rss, (n) => `${MiB(n)} MiB`),
  row('handshake CPU per connection (connect, auth, stream start)', (r) => r.serverCpuPerConnectionUs, (n) => `${fmt(n)} µs`),
  row('connections opened per second (100 handshakes in flight)', (r) => CONNECTIONS / r.openSeconds, (n) => fmt(n)),
  row('connections closed by the server', (r) => r.closedEarly, (n) => fmt(n)),
])}

Targets of issue 8:

${table(['target', 'OmeChat', 'goal or baseline', 'OmeChat/Socket.IO (RSS), OmeChat/bare ws (CPU)', 'result'], targets)}
`,
  );
}
