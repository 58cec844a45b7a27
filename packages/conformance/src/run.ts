import { CHECKS, State, type Check, type Context } from './checks.js';
import { RawClient } from './client.js';
import { loadContract } from './contract.js';

export interface RunOptions {
  url: string;
  /** The server's admin token: without it the moderation checks are skipped. */
  adminToken?: string | undefined;
  /** How long any one wait (a reply, an event, a close) may take. */
  timeoutMs: number;
  out: (line: string) => void;
  checks?: Check[];
}

export interface Outcome {
  name: string;
  result: 'pass' | 'fail' | 'skip';
  problems: string[];
}

/** Runs every check in order; prints a PASS/FAIL line per check and a summary. */
export async function runConformance(opts: RunOptions): Promise<Outcome[]> {
  const contract = loadContract();
  const clients: RawClient[] = [];
  let violations: string[] = [];
  const answered = new Set<string>();
  let notes: string[] = [];
  const ctx: Context = {
    url: opts.url,
    adminToken: opts.adminToken,
    answered,
    contract,
    note: (message) => notes.push(message),
    async open(params) {
      const client = await RawClient.open({
        url: opts.url,
        params: params ?? null,
        contract,
        timeoutMs: opts.timeoutMs,
        onViolation: (message) => violations.push(message),
        onData: (path) => answered.add(path),
      });
      clients.push(client);
      return client;
    },
  };
  const state = new State();
  const outcomes: Outcome[] = [];
  opts.out(`omechat-conformance: protocol ${contract.version} against ${opts.url}`);
  for (const check of opts.checks ?? CHECKS) {
    if (check.needsAdmin && !opts.adminToken) {
      outcomes.push({ name: check.name, result: 'skip', problems: [] });
      opts.out(`SKIP  ${check.name} (needs --admin-token)`);
      continue;
    }
    violations = [];
    notes = [];
    const problems: string[] = [];
    try {
      await check.run(ctx, state);
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
    }
    // Frames a check caused that did not match the schema fail that check.
    problems.push(...violations.map((v) => `schema: ${v}`));
    const ok = problems.length === 0;
    outcomes.push({ name: check.name, result: ok ? 'pass' : 'fail', problems });
    opts.out(`${ok ? 'PASS' : 'FAIL'}  ${check.name}`);
    for (const p of problems) opts.out(`      ${p}`);
    for (const n of notes) opts.out(`      note: ${n}`);
  }
  await Promise.all(clients.map((c) => c.close()));
  const count = (result: Outcome['result']) => outcomes.filter((o) => o.result === result).length;
  opts.out(`conformance: ${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped`);
  return outcomes;
}
