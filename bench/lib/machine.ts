import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';

export interface Machine {
  cpu: string;
  cores: number;
  ramGiB: number;
  node: string;
  os: string;
  /** Filesystem under the temp dir, where the servers keep their SQLite files. */
  tmpFs: string;
}

/** The mount (and its type) that holds `path`: fsync cost, hence SQLite commit cost, depends on it. */
function filesystemOf(path: string): string {
  try {
    const target = resolve(path);
    let best = { mount: '', type: 'unknown' };
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [, mount, type] = line.split(' ');
      if (!mount || !type) continue;
      const inside = target === mount || target.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
      if (inside && mount.length > best.mount.length) best = { mount, type };
    }
    return `${best.type} (${best.mount})`;
  } catch {
    return 'unknown';
  }
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    tmpFs: filesystemOf(os.tmpdir()),
  };
}

export function describeMachine(m = machine()): string {
  // Load from other processes shares the cores with the servers and the load generator.
  const load = os.loadavg()[0]?.toFixed(2) ?? '?';
  return `${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}, ${m.os}, temp dir on ${m.tmpFs}, load average ${load} at start`;
}

export function printMachine(m = machine()): void {
  console.log(`machine: ${describeMachine(m)}`);
}

/** YYYY-MM-DD HH:MM UTC */
export function now(): string {
  return new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

/**
 * The server code measured: the commit, and whether packages/ had uncommitted changes
 * (other work in the same checkout), read with git without changing anything.
 */
export function codeRevision(): string {
  try {
    const root = resolve(import.meta.dirname, '../..');
    const commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--', 'packages'], { encoding: 'utf8' }).trim() !== '';
    return `${commit}${dirty ? ' with uncommitted changes in packages/' : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}
