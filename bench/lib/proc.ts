import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HERE = import.meta.dirname;
export const SERVER_BIN = join(HERE, '../../packages/server/bin/omechat-server.js');
const GC_PROBE = join(HERE, 'gc-probe.mjs');

/** Node flags that let `collectAndMeasure` force a GC in the child (see gc-probe.mjs). */
export const GC_PROBE_ARGS = ['--expose-gc', '--import', GC_PROBE];

/**
 * Servers this process started and that still run: killed when it exits, so a benchmark that
 * throws (or is stopped with Ctrl-C) leaves no server behind holding a port and a data dir.
 */
const children = new Set<ChildProcess>();
function adopt(child: ChildProcess): ChildProcess {
  if (children.size === 0) {
    process.once('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
    process.once('SIGINT', () => process.exit(130));
  }
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

let clkTck: number | undefined;
function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of a process, in seconds (from /proc/<pid>/stat). */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** utime and stime of a process (all its threads), in seconds. */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after "pid (comm)".
  return { user: Number(fields[11]) / clockTicks(), system: Number(fields[12]) / clockTicks() };
}

/** Resident set size and its peak, in bytes (from /proc/<pid>/status). */
export function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** The soft open-file limit of a process (prlimit(1)); NaN when it cannot be read. */
function fileLimit(pid: number, which: 'SOFT' | 'HARD'): number {
  try {
    const v = execFileSync('prlimit', [`--pid=${pid}`, '--nofile', '--raw', '--noheadings', `--output=${which}`], { encoding: 'utf8' }).trim();
    return v === 'unlimited' ? Infinity : Number(v);
  } catch {
    return NaN;
  }
}

/**
 * Raises (never lowers) a process's open-file limit, soft and hard, with prlimit(1). Root
 * may raise the hard limit; anyone may raise the soft limit up to it. Returns the soft
 * limit now in force.
 */
export function raiseFileLimit(pid: number, wanted: number): number {
  const soft = fileLimit(pid, 'SOFT');
  if (soft >= wanted) return soft;
  const hard = Math.max(fileLimit(pid, 'HARD') || 0, wanted);
  try {
    execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${wanted}:${hard}`], { stdio: 'ignore' });
  } catch {
    try {
      const keptHard = fileLimit(pid, 'HARD');
      execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${keptHard}:${keptHard}`], { stdio: 'ignore' });
    } catch {
      // no prlimit, or not allowed: keep what we have
    }
  }
  return fileLimit(pid, 'SOFT');
}

export interface ServerProcess {
  name: string;
  pid: number;
  url: string;
  cpuSeconds(): number;
  cpuTimes(): { user: number; system: number };
  memory(): { rss: number; peak: number };
  /**
   * Only for children started with GC_PROBE_ARGS: forces a full GC in the child, then
   * returns its RSS (from /proc) and V8 heap figures (from process.memoryUsage()).
   */
  collectAndMeasure(): Promise<{ rss: number; heapUsed: number; external: number; arrayBuffers: number }>;
  /** SIGTERM, then waits for exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

function watch(name: string, child: ChildProcess, pattern: RegExp, cleanup: () => void, memoryFile: string): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    let exited = false;
    const exit = new Promise<void>((r) =>
      child.once('exit', () => {
        exited = true;
        r();
      }),
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      if (err.length > 20_000) err = err.slice(-10_000);
      process.stderr.write(`[${name}] ${chunk.toString()}`);
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      if (out.length < 10_000) out += chunk.toString();
      const m = pattern.exec(out);
      if (m && child.pid) {
        const pid = child.pid;
        out = ' '.repeat(10_000); // found: stop accumulating, keep draining
        resolve({
          name,
          pid,
          url: m[1]!,
          cpuSeconds: () => cpuSeconds(pid),
          cpuTimes: () => cpuTimes(pid),
          memory: () => memory(pid),
          async collectAndMeasure() {
            rmSync(memoryFile, { force: true });
            child.kill('SIGUSR2');
            const deadline = Date.now() + 30_000;
            while (!existsSync(memoryFile)) {
              if (Date.now() > deadline) throw new Error(`${name}: no memory report (started without GC_PROBE_ARGS?)`);
              await new Promise((r) => setTimeout(r, 20));
            }
            const usage = JSON.parse(readFileSync(memoryFile, 'utf8')) as { heapUsed: number; external: number; arrayBuffers: number };
            return { rss: memory(pid).rss, heapUsed: usage.heapUsed, external: usage.external, arrayBuffers: usage.arrayBuffers };
          },
          async stop() {
            if (!exited) {
              child.kill('SIGTERM');
              const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
              await exit;
              clearTimeout(timer);
            }
            cleanup();
          },
        });
      }
    });
    child.once('exit', (code, signal) => {
      cleanup();
      reject(new Error(`${name} exited (${code ?? signal}) before listening:\n${err}`));
    });
  });
}

/**
 * Server settings every benchmark uses. Rate limits stay on (counted in process memory, so
 * their cost per call is measured) but are raised out of reach: all the load comes from one
 * loopback network and a few clients send far faster than a person.
 */
/** /metrics on the main port answers this as a bearer token (`metricsHeaders`). */
const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef0123456789abcdef';
export const metricsHeaders = { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` };

export const BENCH_SERVER_ENV: Record<string, string> = {
  OMECHAT_ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
  OMECHAT_RATE_LIMIT_STORE: 'memory',
  OMECHAT_RATE_CONNECTIONS_PER_NETWORK: '999999999/60',
  OMECHAT_RATE_MESSAGES_BURST: '999999999/5',
  OMECHAT_RATE_MESSAGES_SUSTAINED: '999999999/300',
  OMECHAT_RATE_MATCH_STARTS: '999999999/60',
  // --storage memory registers its accounts through the API.
  OMECHAT_RATE_REGISTER_PER_NETWORK: '999999999/60',
  // Every connection comes from one address: the open-socket caps would refuse the 1,000
  // clients at 500 pairs (HTTP 503) and the 5,000 of memory.ts.
  OMECHAT_MAX_SOCKETS: '1000000',
  OMECHAT_MAX_SOCKETS_PER_NETWORK: '1000000',
  // A fixed key: no warning about network bans lapsing on restart.
  OMECHAT_NETWORK_KEY: 'bench-network-key-0123456789abcdef0123456789',
};

export interface OmeChatServerOptions {
  /** A data dir already seeded; made and removed here when omitted. */
  dataDir?: string;
  env?: Record<string, string>;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
  fileLimit?: number;
}

/** The real `omechat-server serve` in a child process, SQLite in a temp dir. */
export async function startOmeChat(opts: OmeChatServerOptions = {}): Promise<ServerProcess & { dataDir: string }> {
  const own = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'omechat-bench-'));
  const memoryFile = join(tmpdir(), `omechat-bench-mem-${process.pid}-${Date.now()}.json`);
  const child = adopt(spawn(process.execPath, [...(opts.nodeArgs ?? []), SERVER_BIN, 'serve'], {
    env: {
      ...process.env,
      BENCH_MEMORY_FILE: memoryFile,
      OMECHAT_HOST: '127.0.0.1',
      OMECHAT_PORT: '0',
      OMECHAT_DATA_DIR: dataDir,
      OMECHAT_LOG_LEVEL: 'warn',
      ...BENCH_SERVER_ENV,
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  if (opts.fileLimit && child.pid) raiseFileLimit(child.pid, opts.fileLimit);
  const server = await watch('omechat', child, /listening on (ws:\/\/\S+)/, () => {
    rmSync(memoryFile, { force: true });
    if (own) rmSync(dataDir, { recursive: true, force: true });
  }, memoryFile);
  return { ...server, dataDir };
}

/** The baselines, each a script in bench/ that prints "baseline listening on <url>". */
export const BASELINES = {
  ws: join(HERE, '../baseline-server.ts'),
  socketio: join(HERE, '../baseline-socketio.ts'),
  trpc: join(HERE, '../baseline-trpc.ts'),
  durable: join(HERE, '../baseline-durable.ts'),
} as const;
export type Baseline = keyof typeof BASELINES;

/** A baseline server (bare `ws` by default) in a child process. */
export async function startBaseline(
  opts: { kind?: Baseline; fileLimit?: number; nodeArgs?: string[] } = {},
): Promise<ServerProcess> {
  const kind = opts.kind ?? 'ws';
  const memoryFile = join(tmpdir(), `omechat-bench-mem-${process.pid}-${Date.now()}-${kind}.json`);
  const child = adopt(spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', BASELINES[kind]], {
    cwd: join(HERE, '..'),
    env: { ...process.env, BENCH_MEMORY_FILE: memoryFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  if (opts.fileLimit && child.pid) raiseFileLimit(child.pid, opts.fileLimit);
  return watch(kind, child, /baseline listening on (\S+)/, () => rmSync(memoryFile, { force: true }), memoryFile);
}

/** utime + stime of every process named `comm` on this machine, in seconds, by pid. */
export function cpuByName(comm: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) out.set(Number(entry), cpuSeconds(Number(entry)));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU seconds the processes spent between two cpuByName samples (a process new in `after` counts whole). */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>, only?: Set<number>): number {
  let sum = 0;
  for (const [pid, t] of after) if (!only || only.has(pid)) sum += t - (before.get(pid) ?? 0);
  return sum;
}

/** A private redis-server (never the shared one) on a free loopback port, for the Redis bus. */
export async function startRedis(): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await new Promise<number>((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const child = adopt(spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  const exit = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (/Ready to accept connections/.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${out}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await exit;
    },
  };
}
