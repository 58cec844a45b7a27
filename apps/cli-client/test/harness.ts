import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer as startServer } from '@omechat/server/testing';

const BIN = join(import.meta.dirname, '../bin/omechat.js');

/** A value parsed from the CLI's JSON output: tests look into it freely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** The repository's test server (in this process, port 0, SQLite in a temp dir); `restart` keeps its port and data. */
export async function startTestServer() {
  let server = await startServer();
  return {
    url: server.url,
    /** Stops the server, runs `whileDown`, and starts it again on the same port. */
    async restart(whileDown: () => Promise<void>) {
      await server.close();
      await whileDown();
      server = await server.restart();
    },
    close: () => server.destroy(),
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as one JSON value per line. */
  lines: Json[];
}

/** One user of the CLI: their own OMECHAT_HOME, talking to `url`. */
export class CliUser {
  readonly home = mkdtempSync(join(tmpdir(), 'omechat-cli-home-'));
  constructor(readonly url: string) {}

  spawn(args: string[], env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
    return spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, OMECHAT_URL: this.url, OMECHAT_HOME: this.home, ...env },
      stdio: 'pipe',
    });
  }

  /** Runs the CLI to its end. */
  run(args: string[], stdin?: string): Promise<CliResult> {
    const child = this.spawn(args);
    child.stdin.end(stdin ?? '');
    return finished(child);
  }

  /** Runs with --json and returns the one object it printed; fails on a non-zero exit. */
  async json(args: string[], stdin?: string): Promise<Json> {
    const result = await this.run([...args, '--json'], stdin);
    if (result.code !== 0) throw new Error(`omechat ${args[0]} exited ${result.code}: ${result.stdout}${result.stderr}`);
    if (result.lines.length !== 1) throw new Error(`expected one JSON line, got: ${result.stdout}`);
    return result.lines[0];
  }

  cleanup(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}

export function finished(child: ChildProcessWithoutNullStreams): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      const lines = stdout.split('\n').filter(Boolean).map((line): Json => JSON.parse(line));
      resolve({ code, stdout, stderr, lines });
    });
  });
}

/** Resolves with a long-running child's exit code. */
export function exited(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Collects a long-running child's stdout as JSON lines. */
export function jsonLines(child: ChildProcessWithoutNullStreams): Json[] {
  const lines: Json[] = [];
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      lines.push(JSON.parse(buffer.slice(0, i)));
      buffer = buffer.slice(i + 1);
    }
  });
  return lines;
}

export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let counter = 0;
export const uniqueName = (prefix: string) => `${prefix}_${process.pid}_${++counter}`;

/** Registers through the CLI, which signs in at once; returns the secret. */
export async function signUp(user: CliUser, username: string, age: number): Promise<string> {
  const { secret } = await user.json(['register', '--username', username, '--age', String(age)]);
  return secret as string;
}
