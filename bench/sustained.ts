/**
 * Sustained load: OmeChat (SQLite, the default) relaying between --pairs pairs, every client
 * keeping --window sends awaiting their ack, both directions, for --seconds (5 minutes by
 * default). Every --sample seconds it records the server's RSS (/proc), and from /metrics its
 * V8 heap, the history cache's bytes and the SQLite WAL's size; every --gc-every seconds,
 * after that sample, a forced full GC in the server (bench/lib/gc-probe.mjs) reads its live heap. Issue 16's target: RSS after
 * the first minute grows by less than 10% (memory plateaus under the configured bounds), and
 * the WAL's high-water mark stays bounded.
 *
 *   node --import tsx sustained.ts [--pairs 50] [--window 32] [--seconds 300] [--sample 5]
 *     [--settle 60] [--no-write]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { codeRevision, describeMachine, machine, now } from './lib/machine.ts';
import { GC_PROBE_ARGS, metricsHeaders, startOmeChat } from './lib/proc.ts';
import { commandLine, scriptArgs, table, writeSection } from './lib/report.ts';
import { openMany, RpcClient } from './lib/rpc.ts';
import { seedAccounts } from './lib/seed.ts';
import { fmt, sleep } from './lib/stats.ts';

const { values: args } = parseArgs({
  args: scriptArgs(),
  options: {
    pairs: { type: 'string', default: '50' },
    window: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '300' },
    sample: { type: 'string', default: '5' },
    settle: { type: 'string', default: '60' },
    /** Every this many seconds, a full GC in the server (after the RSS sample) to read its live heap; 0: never. */
    'gc-every': { type: 'string', default: '30' },
    'no-write': { type: 'boolean', default: false },
  },
});
const PAIRS = Number(args.pairs);
const WINDOW = Number(args.window);
const SECONDS = Number(args.seconds);
const SAMPLE = Number(args.sample);
const SETTLE = Number(args.settle);
const GC_EVERY = Number(args['gc-every']);
const CIPHERTEXT = randomBytes(100).toString('base64url');

const machineLine = describeMachine(machine());
const revision = codeRevision();
console.log(`machine: ${machineLine}\ncode: ${revision}`);

const dataDir = mkdtempSync(join(tmpdir(), 'omechat-sustained-'));
const users = await seedAccounts(dataDir, Array.from({ length: PAIRS * 2 }, () => ({ age: 30, devices: 1 })));
const server = await startOmeChat({ dataDir, nodeArgs: GC_EVERY > 0 ? GC_PROBE_ARGS : [] });
const metricsUrl = `${server.url.replace(/^ws/, 'http').replace(/\/trpc.*$/, '').replace(/\/$/, '')}/metrics`;

let delivered = 0;
let errors = 0;
let stopping = false;
const clients = await openMany(users.length, 64, async (i) => {
  const client = await RpcClient.open({
    url: server.url,
    credentials: users[i]!.devices[0]!,
    onEvents: (events) => {
      for (const e of events as { type: string }[]) if (e.type === 'message.new') delivered++;
    },
  });
  await client.subscribe();
  return client;
});

/** Pairs matched the way users are: a's ticket waits, b's match.start finds it. */
const chats: string[] = [];
for (let p = 0; p < PAIRS; p++) {
  const [a, b] = [clients[2 * p]!, clients[2 * p + 1]!];
  await a.call('mutation', 'match.start', { tolerance: 0 });
  const found = await b.call<{ chatId: string }>('mutation', 'match.start', { tolerance: 0 });
  chats.push(found.chatId);
}

let counter = 0;
function send(i: number): void {
  if (stopping) return;
  const client = clients[i]!;
  const peer = users[i ^ 1]!.devices[0]!.clientHash;
  const c = (counter++).toString(36);
  client
    .call('mutation', 'message.send', {
      chatId: chats[i >> 1],
      envelope: { v: 1, parts: [{ to: peer, header: c, ciphertext: CIPHERTEXT }] },
      clientMessageId: `s${c}`,
    })
    .then(
      () => send(i),
      (err: Error) => {
        if (stopping) return;
        if (++errors <= 3) console.error(err.message);
        setTimeout(() => send(i), 100);
      },
    );
}
for (let i = 0; i < clients.length; i++) for (let w = 0; w < WINDOW; w++) send(i);

interface Sample {
  t: number;
  rss: number;
  heapUsed: number;
  cacheBytes: number;
  walBytes: number;
  walHighWater: number;
  perSecond: number;
  load: number;
  /** V8 heap after a forced full GC (what is live), when one was taken with this sample. */
  liveHeap?: number;
}
const samples: Sample[] = [];
const figure = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
const MiB = (b: number) => fmt(b / 2 ** 20, 1);
const t0 = performance.now();
let lastDelivered = 0;
let lastAt = t0;
console.log(`${PAIRS} pairs x${WINDOW}, both directions, ${SECONDS} s; a sample every ${SAMPLE} s`);
while (performance.now() - t0 < SECONDS * 1000) {
  await sleep(SAMPLE * 1000);
  const text = await (await fetch(metricsUrl, { headers: metricsHeaders })).text();
  const at = performance.now();
  const sample: Sample = {
    t: (at - t0) / 1000,
    rss: server.memory().rss,
    heapUsed: figure(text, 'nodejs_heap_size_used_bytes'),
    cacheBytes: figure(text, 'omechat_history_cache_bytes'),
    walBytes: figure(text, 'omechat_sqlite_wal_bytes'),
    walHighWater: figure(text, 'omechat_sqlite_wal_high_water_bytes'),
    perSecond: ((delivered - lastDelivered) * 1000) / (at - lastAt),
    load: loadavg()[0]!,
  };
  lastDelivered = delivered;
  lastAt = at;
  if (GC_EVERY > 0 && Math.floor(sample.t / GC_EVERY) > Math.floor((sample.t - SAMPLE) / GC_EVERY)) {
    sample.liveHeap = (await server.collectAndMeasure()).heapUsed;
  }
  samples.push(sample);
  console.log(
    `  ${fmt(sample.t)} s: RSS ${MiB(sample.rss)} MiB, heap ${MiB(sample.heapUsed)} MiB, history cache ${MiB(sample.cacheBytes)} MiB (counted), ` +
      `WAL ${MiB(sample.walBytes)} MiB (high-water ${MiB(sample.walHighWater)}), ${fmt(sample.perSecond)} msg/s, load ${sample.load.toFixed(2)}` +
      (sample.liveHeap !== undefined ? `; live heap after a full GC ${MiB(sample.liveHeap)} MiB` : ''),
  );
}
stopping = true;
await Promise.all(clients.map((c) => c.close()));
await server.stop();
rmSync(dataDir, { recursive: true, force: true });

// RSS swings with V8's GC cycle (the heap grows with garbage until a major GC), so a plateau
// is judged on the envelope: the highest RSS in the minute after --settle against the highest
// in the rest of the run. The plain reading (first sample after --settle against the highest
// after it) is printed too: it depends on where in a GC cycle that one sample fell.
const settled = samples.find((s) => s.t >= SETTLE) ?? samples[0]!;
const minute = samples.filter((s) => s.t >= SETTLE && s.t < SETTLE + 60);
const later = samples.filter((s) => s.t >= SETTLE + 60);
const peakMinute = Math.max(...minute.map((s) => s.rss));
const peakLater = later.length > 0 ? Math.max(...later.map((s) => s.rss)) : NaN;
const growth = (peakLater - peakMinute) / peakMinute;
const peakAfter = Math.max(...samples.filter((s) => s.t >= settled.t).map((s) => s.rss));
const plainGrowth = (peakAfter - settled.rss) / settled.rss;
const last = samples.at(-1)!;
const verdict = growth < 0.1 ? 'pass' : Number.isNaN(growth) ? 'n/a (run shorter than --settle + 60 s)' : 'FAIL';
const summary =
  `highest RSS from ${fmt(SETTLE)} s to ${fmt(SETTLE + 60)} s ${MiB(peakMinute)} MiB, highest after it ${MiB(peakLater)} MiB: ${growth >= 0 ? '+' : ''}${fmt(growth * 100, 1)}% (target < 10%: ${verdict}); ` +
  `RSS at ${fmt(settled.t)} s ${MiB(settled.rss)} MiB, highest after it ${MiB(peakAfter)} MiB (+${fmt(plainGrowth * 100, 1)}%)`;
console.log(`\n${summary}; WAL high-water ${MiB(last.walHighWater)} MiB; ${errors} send errors; ${fmt(delivered)} messages delivered`);
if (!args['no-write']) {
  writeSection(
    'sustained',
    `## Sustained load (issue 16: memory plateaus, WAL bounded)

- **Machine:** ${machineLine}
- **Date:** ${now()}
- **Command:** ${commandLine('sustained')}
- **Code:** ${revision}
- **Setup:** \`omechat-server serve\` with its defaults (SQLite in the temp dir, OMECHAT_HISTORY_CACHE_BYTES 64 MiB), rate limits raised out of reach, ${PAIRS} pairs matched with \`match.start\`, every client keeping ${WINDOW} sends of a 100-byte ciphertext awaiting their ack, both directions, ${SECONDS} s. RSS from /proc; heap, history cache and WAL from /metrics; every ${GC_EVERY} s, after the sample, a forced full GC reads the live heap (in brackets). The machine is shared: the load average beside each sample is the 1-minute average from other work as well as this run.

${table(
  ['t', 'RSS', 'V8 heap used (live after a forced GC)', 'history cache (counted)', 'WAL in use / high-water', 'msg/s', 'load avg'],
  samples
    .filter((s, i, all) => s.liveHeap !== undefined || i === all.length - 1 || s === settled)
    .map((s) => [`${fmt(s.t)} s`, `${MiB(s.rss)} MiB`, `${MiB(s.heapUsed)} MiB${s.liveHeap !== undefined ? ` (${MiB(s.liveHeap)})` : ''}`, `${MiB(s.cacheBytes)} MiB`, `${MiB(s.walBytes)} / ${MiB(s.walHighWater)} MiB`, fmt(s.perSecond), s.load.toFixed(2)]),
)}

RSS swings with V8's GC cycle, so the plateau is judged on its envelope: ${summary}. WAL high-water mark over the run: ${MiB(last.walHighWater)} MiB. ${fmt(delivered)} messages delivered, ${errors} send errors.
`,
  );
}
process.exit(0);
