import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HERE = import.meta.dirname;
export const SERVER_BIN = join(HERE, '../../packages/server/bin/omechat-server.js');
export const BASELINE_SERVER = join(HERE, '../baseline-server.ts');

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

/**
 * Raises a process's open-file limit (soft and hard) with prlimit(1). Root may raise the
 * hard limit; anyone may raise the soft limit up to it. Returns the limit now in force.
 */
export function raiseFileLimit(pid: number, wanted: number): number {
  try {
    execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${wanted}:${wanted}`], { stdio: 'ignore' });
  } catch {
    try {
      const hard = execFileSync('prlimit', [`--pid=${pid}`, '--nofile', '--raw', '--noheadings', '--output=HARD'], { encoding: 'utf8' }).trim();
      execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${hard}:${hard}`], { stdio: 'ignore' });
    } catch {
      // no prlimit: keep what we have
    }
  }
  try {
    const soft = execFileSync('prlimit', [`--pid=${pid}`, '--nofile', '--raw', '--noheadings', '--output=SOFT'], { encoding: 'utf8' }).trim();
    return soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return NaN;
  }
}

export interface ServerProcess {
  name: string;
  pid: number;
  url: string;
  cpuSeconds(): number;
  cpuTimes(): { user: number; system: number };
  memory(): { rss: number; peak: number };
  /** SIGTERM, then waits for exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

function watch(name: string, child: ChildProcess, pattern: RegExp, cleanup: () => void): Promise<ServerProcess> {
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
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), SERVER_BIN, 'serve'], {
    env: {
      ...process.env,
      OMECHAT_HOST: '127.0.0.1',
      OMECHAT_PORT: '0',
      OMECHAT_DATA_DIR: dataDir,
      OMECHAT_LOG_LEVEL: 'warn',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (opts.fileLimit && child.pid) raiseFileLimit(child.pid, opts.fileLimit);
  const server = await watch('omechat', child, /listening on (ws:\/\/\S+)/, () => {
    if (own) rmSync(dataDir, { recursive: true, force: true });
  });
  return { ...server, dataDir };
}

/** The bare `ws` baseline server (bench/baseline-server.ts) in a child process. */
export async function startBaseline(opts: { fileLimit?: number } = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', BASELINE_SERVER], {
    cwd: join(HERE, '..'),
    env: { ...process.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (opts.fileLimit && child.pid) raiseFileLimit(child.pid, opts.fileLimit);
  return watch('baseline', child, /baseline listening on (ws:\/\/\S+)/, () => undefined);
}
