import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HERE = import.meta.dirname;
export const SERVER_BIN = join(HERE, '../../packages/server/bin/omechat-server.js');
export const BASELINE_SERVER = join(HERE, '../baseline-server.ts');
const GC_PROBE = join(HERE, 'gc-probe.mjs');

/** Node flags that let `collectAndMeasure` force a GC in the child (see gc-probe.mjs). */
export const GC_PROBE_ARGS = ['--expose-gc', '--import', GC_PROBE];

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
export const BENCH_SERVER_ENV: Record<string, string> = {
  OMECHAT_RATE_LIMIT_STORE: 'memory',
  OMECHAT_RATE_CONNECTIONS_PER_NETWORK: '999999999/60',
  OMECHAT_RATE_MESSAGES_BURST: '999999999/5',
  OMECHAT_RATE_MESSAGES_SUSTAINED: '999999999/300',
  OMECHAT_RATE_MATCH_STARTS: '999999999/60',
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
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), SERVER_BIN, 'serve'], {
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
  });
  if (opts.fileLimit && child.pid) raiseFileLimit(child.pid, opts.fileLimit);
  const server = await watch('omechat', child, /listening on (ws:\/\/\S+)/, () => {
    rmSync(memoryFile, { force: true });
    if (own) rmSync(dataDir, { recursive: true, force: true });
  }, memoryFile);
  return { ...server, dataDir };
}

/** The bare `ws` baseline server (bench/baseline-server.ts) in a child process. */
export async function startBaseline(opts: { fileLimit?: number; nodeArgs?: string[] } = {}): Promise<ServerProcess> {
  const memoryFile = join(tmpdir(), `omechat-bench-mem-${process.pid}-${Date.now()}-b.json`);
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', BASELINE_SERVER], {
    cwd: join(HERE, '..'),
    env: { ...process.env, BENCH_MEMORY_FILE: memoryFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (opts.fileLimit && child.pid) raiseFileLimit(child.pid, opts.fileLimit);
  return watch('baseline', child, /baseline listening on (ws:\/\/\S+)/, () => rmSync(memoryFile, { force: true }), memoryFile);
}
