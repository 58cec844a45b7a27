/**
 * Registration proof-of-work: what one registration costs the person (the SDK's solve, in a
 * worker thread, at the default difficulty), what it costs the server (issue, verify, spend),
 * and what 10,000 registrations cost someone who wants them. Never a test; writes its
 * section of BENCHMARKS.md (--no-write: print only; --solves N, --difficulty N).
 */
import { parseArgs } from 'node:util';
import { solvePow } from '@omechat/sdk';
import { loadConfig } from '@omechat/server';
import { altchaProofOfWork, MemoryRateLimiterStore, POW_ALGORITHM, POW_ITERATIONS } from '@omechat/server/internals';
import { codeRevision, describeMachine, now, printMachine } from './lib/machine.ts';
import { commandLine, table, writeSection } from './lib/report.ts';
import { fmt, percentiles } from './lib/stats.ts';

const { values } = parseArgs({ options: { solves: { type: 'string' }, difficulty: { type: 'string' }, 'no-write': { type: 'boolean' } } });
const config = loadConfig({});
const difficulty = Number(values.difficulty ?? config.OMECHAT_POW_DIFFICULTY);
const solves = Number(values.solves ?? 30);
printMachine();
const machineLine = describeMachine();

const pow = altchaProofOfWork('bench-key-'.padEnd(40, 'b'));
const issue = () => pow.issue({ attempts: difficulty, expiresAt: Date.now() + 300_000, data: { max: difficulty, net: '0123456789abcdef' } });

// The person's side: the SDK's own path (a fresh worker thread per registration).
const solveMs: number[] = [];
const attempts: number[] = [];
for (let i = 0; i < solves; i++) {
  const challenge = await issue();
  const start = performance.now();
  const solution = await solvePow(challenge);
  solveMs.push(performance.now() - start);
  attempts.push(solution.counter + 1);
  process.stdout.write(`\rsolved ${i + 1}/${solves}`);
}
console.log();

// The server's side: issuing a challenge derives its key once; verifying is two HMACs.
const rounds = 2000;
const challenges = await Promise.all(Array.from({ length: 50 }, issue));
const solutions = await Promise.all(challenges.map((c) => solvePow(c)));
let t = performance.now();
for (let i = 0; i < rounds; i++) await issue();
const issueUs = ((performance.now() - t) * 1000) / rounds;
t = performance.now();
for (let i = 0; i < rounds; i++) {
  const k = i % challenges.length;
  if ((await pow.verify(challenges[k]!, solutions[k]!)) !== 'ok') throw new Error('a good solution failed to verify');
}
const verifyUs = ((performance.now() - t) * 1000) / rounds;
const spent = new MemoryRateLimiterStore().limiter('powSpent', { points: 1, windowMs: 360_000, blockMs: 0 });
t = performance.now();
for (let i = 0; i < rounds; i++) await spent.consume(`signature-${i}`);
const spendUs = ((performance.now() - t) * 1000) / rounds;

const [p50, p95] = percentiles(solveMs, [50, 95]);
const mean = solveMs.reduce((a, b) => a + b, 0) / solveMs.length;
const meanAttempts = attempts.reduce((a, b) => a + b, 0) / attempts.length;
const msPerAttempt = solveMs.reduce((a, b) => a + b, 0) / attempts.reduce((a, b) => a + b, 0);
const hot = difficulty * config.OMECHAT_POW_HOT_FACTOR;
// 10,000 registrations, on one core of this machine, at the quiet and at the hot difficulty.
const coreHours = (ms: number) => (10_000 * ms) / 3600_000;
const quietHours = coreHours(mean);
const hotHours = coreHours(mean * config.OMECHAT_POW_HOT_FACTOR);
const hotBoth = coreHours(mean * config.OMECHAT_POW_HOT_FACTOR ** 2);

const rows = [
  ['solve in Node (SDK, worker thread), mean', `${fmt(mean)} ms`],
  ['solve, p50 / p95 / max', `${fmt(p50!)} / ${fmt(p95!)} / ${fmt(Math.max(...solveMs))} ms`],
  ['attempts per solve, mean (uniform in [max/2, max))', fmt(meanAttempts)],
  ['time per attempt (PBKDF2-SHA-256, 1000 iterations)', `${fmt(msPerAttempt * 1000)} µs`],
  ['server: issue a challenge (derive its key once, sign)', `${fmt(issueUs, 1)} µs`],
  ['server: verify a solution (signature + key signature)', `${fmt(verifyUs, 1)} µs`],
  ['server: spend a solution in the replay store (memory)', `${fmt(spendUs, 1)} µs`],
  ['10,000 registrations, quiet difficulty', `${fmt(quietHours, 1)} core-hours`],
  [`10,000 registrations while overall registrations run hot (x${config.OMECHAT_POW_HOT_FACTOR})`, `${fmt(hotHours, 1)} core-hours`],
  [`... from networks that also run hot (x${config.OMECHAT_POW_HOT_FACTOR ** 2})`, `${fmt(hotBoth, 1)} core-hours`],
];
console.table(Object.fromEntries(rows));

if (!values['no-write']) {
  writeSection(
    'pow',
    `## Registration proof-of-work

- **Machine:** ${machineLine}
- **Date:** ${now()}
- **Command:** ${commandLine('pow')}
- **Code:** ${codeRevision()}
- **Setup:** ${solves} challenges at difficulty ${difficulty} (\`OMECHAT_POW_DIFFICULTY\` default; hot: x${config.OMECHAT_POW_HOT_FACTOR} = ${hot}), ${POW_ALGORITHM} with ${POW_ITERATIONS} iterations per attempt, issued by the server's adapter (\`altchaProofOfWork\`) and solved by the SDK's \`solvePow\` exactly as \`account.register\` does (a worker thread per solve, its start-up included). Server costs: mean of ${rounds} calls in one process.

${table(['figure', 'value'], rows)}

What it buys: a person waits ${fmt(mean)} ms once, here at the load average above (the
default is sized for about a second on an idle core: ${fmt(meanAttempts)} attempts of
${fmt(msPerAttempt * 1000)} µs measured here); the server spends ${fmt((issueUs + verifyUs + spendUs) / 1000, 1)} ms
per registration. A bot farm pays ${fmt(quietHours, 1)} core-hours per 10,000 accounts while
registrations are quiet, ${fmt(hotHours, 1)} once they run hot overall, ${fmt(hotBoth, 1)} from busy
networks: cents to a few dollars of cloud CPU. The proof-of-work alone is not "real money";
with it, \`OMECHAT_RATE_REGISTER_PER_NETWORK\` (10 per hour per /24 or /64) makes 10,000
accounts need 1,000 network-hours of distinct addresses, and each network that registers
more than 3 in 10 minutes pays ${config.OMECHAT_POW_HOT_FACTOR}x per account. Not measured here:
the solve in Chromium (the web page of issue 9 had not landed when this ran).`,
  );
}
process.exit(0);
