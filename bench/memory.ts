/**
 * Memory benchmark: server memory per idle authenticated connection with its event stream
 * open, at 5,000 connections on loopback.
 *
 * OmeChat: `omechat-server serve` (SQLite in a temp dir) in a child process; 313 accounts
 * with 16 devices each (the most an account may have) seeded through its Storage adapter;
 * every connection signs in with its own device's connectionParams and opens
 * `events.stream`. Baseline: bench/baseline-server.ts, a bare `ws` server holding the same
 * connections with the same handshake frames. Both children run with --expose-gc and
 * bench/lib/gc-probe.mjs, so figures are read after a full GC; RSS from /proc/<pid>/status.
 * Per connection = (after - before) / connections, "before" being the same server started
 * and settled with no connection.
 *
 *   node --import tsx memory.ts [--connections 5000] [--settle 3] [--no-write]
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
import { GC_PROBE_ARGS, raiseFileLimit, startBaseline, startOmeChat, type ServerProcess } from './lib/proc.ts';
import { commandLine, scriptArgs, table, writeSection } from './lib/report.ts';
import { openMany, RpcClient, type Credentials } from './lib/rpc.ts';
import { seedAccounts } from './lib/seed.ts';
import { fmt, ratio, sleep } from './lib/stats.ts';

const { values: args } = parseArgs({
  args: scriptArgs(),
  options: {
    connections: { type: 'string', default: '5000' },
    settle: { type: 'string', default: '3' },
    'no-write': { type: 'boolean', default: false },
  },
});
const CONNECTIONS = Number(args.connections);
const SETTLE_MS = Number(args.settle) * 1000;
const FILE_LIMIT = CONNECTIONS + 1024;

interface Result {
  target: 'omechat' | 'baseline';
  before: { rss: number; heapUsed: number; external: number };
  after: { rss: number; heapUsed: number; external: number };
  openSeconds: number;
  serverCpuPerConnectionUs: number;
  closedEarly: number;
}

async function run(target: 'omechat' | 'baseline', devices: Credentials[]): Promise<Result> {
  let server: ServerProcess;
  let dataDir: string | undefined;
  if (target === 'omechat') {
    dataDir = mkdtempSync(join(tmpdir(), 'omechat-memory-'));
    const perUser = LIMITS.maxClientsPerUser;
    const users = await seedAccounts(
      dataDir,
      Array.from({ length: Math.ceil(CONNECTIONS / perUser) }, () => ({ age: 30, devices: perUser })),
    );
    devices.splice(0, devices.length, ...users.flatMap((u) => u.devices).slice(0, CONNECTIONS));
    server = await startOmeChat({ dataDir, nodeArgs: GC_PROBE_ARGS, fileLimit: FILE_LIMIT });
  } else {
    server = await startBaseline({ nodeArgs: GC_PROBE_ARGS, fileLimit: FILE_LIMIT });
  }
  const clients: RpcClient[] = [];
  let closedEarly = 0;
  try {
    await sleep(SETTLE_MS);
    const before = await server.collectAndMeasure();
    const cpu0 = server.cpuSeconds();
    const t0 = performance.now();
    clients.push(
      ...(await openMany(CONNECTIONS, 100, async (i) => {
        const rpc = await RpcClient.open({
          url: server.url,
          credentials: devices[i]!,
          onClose: () => closedEarly++,
        });
        await rpc.subscribe();
        return rpc;
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

// The baseline gets random credentials; OmeChat's come from the seeded accounts.
const { randomBytes } = await import('node:crypto');
const baselineDevices: Credentials[] = Array.from({ length: CONNECTIONS }, () => ({
  clientHash: randomBytes(16).toString('base64url'),
  accessToken: randomBytes(32).toString('base64url'),
}));
const results: Result[] = [];
for (const target of ['baseline', 'omechat'] as const) {
  const r = await run(target, target === 'baseline' ? baselineDevices : []);
  results.push(r);
  console.log(
    `  ${target.padEnd(8)} RSS ${MiB(r.before.rss)} -> ${MiB(r.after.rss)} MiB: ${KiB(perConnection(r, 'rss'))} KiB per connection ` +
      `(V8 heap ${KiB(perConnection(r, 'heapUsed'))} KiB, external ${KiB(perConnection(r, 'external'))} KiB); ` +
      `opened in ${fmt(r.openSeconds, 1)} s (${fmt(CONNECTIONS / r.openSeconds)} /s), server CPU ${fmt(r.serverCpuPerConnectionUs)} µs per connection; ` +
      `closed by the server: ${r.closedEarly}`,
  );
}
const [b, o] = results as [Result, Result];
console.log(
  `  ratio OmeChat/baseline: RSS per connection ${ratio(perConnection(o, 'rss'), perConnection(b, 'rss'))}, ` +
    `heap per connection ${ratio(perConnection(o, 'heapUsed'), perConnection(b, 'heapUsed'))}`,
);

if (!args['no-write']) {
  const row = (what: string, of: (r: Result) => number, show: (n: number) => string) => [what, show(of(o)), show(of(b)), ratio(of(o), of(b))];
  writeSection(
    'memory',
    `## Memory

- **Machine:** ${machineLine}
- **Date:** ${now()}
- **Command:** ${commandLine('memory')}
- **Code:** ${revision}
- **Setup:** ${fmt(CONNECTIONS)} idle WebSocket connections on loopback. OmeChat: \`omechat-server serve\`, SQLite in the temp dir, ${Math.ceil(CONNECTIONS / LIMITS.maxClientsPerUser)} accounts x ${LIMITS.maxClientsPerUser} devices seeded through its Storage adapter; each connection authenticates with its own device and opens \`events.stream\`. Baseline: \`bench/baseline-server.ts\` (bare \`ws\`) answering the same handshake frames. Rate limits stay on (memory store) but raised out of reach, since all load comes from one loopback network (\`BENCH_SERVER_ENV\` in \`bench/lib/proc.ts\`). Both servers in child processes with \`--expose-gc\`; figures after a full GC, ${args.settle} s after the last connection opened; per connection = (with connections - without) / ${fmt(CONNECTIONS)}.

${table(['figure', 'OmeChat', 'bare ws baseline', 'OmeChat/baseline'], [
  row('RSS per connection', (r) => perConnection(r, 'rss'), (n) => `${KiB(n)} KiB`),
  row('V8 heap used per connection', (r) => perConnection(r, 'heapUsed'), (n) => `${KiB(n)} KiB`),
  row('external (buffers) per connection', (r) => perConnection(r, 'external'), (n) => `${KiB(n)} KiB`),
  row('RSS with no connection', (r) => r.before.rss, (n) => `${MiB(n)} MiB`),
  row(`RSS with ${fmt(CONNECTIONS)} connections`, (r) => r.after.rss, (n) => `${MiB(n)} MiB`),
  row('server CPU per connection opened (handshake, auth, stream)', (r) => r.serverCpuPerConnectionUs, (n) => `${fmt(n)} µs`),
  row('connections opened per second (100 handshakes in flight)', (r) => CONNECTIONS / r.openSeconds, (n) => fmt(n)),
  row('connections closed by the server', (r) => r.closedEarly, (n) => fmt(n)),
])}
`,
  );
}
