import { createInterface } from 'node:readline';
import { CliError, usage } from './errors.js';
import type { Output } from './format.js';
import type { ServerAddress } from './session.js';
import type { LocalState } from './state.js';

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

/** What every command gets: where the server is, how to print, and its parsed arguments. */
export interface Context {
  server: ServerAddress;
  out: Output;
  state: LocalState;
  options: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export interface Command {
  /** Arguments after the command name, as shown in help. */
  args: string;
  summary: string;
  options?: OptionSpec;
  /** How many positionals the command takes: [min, max]. */
  positionals?: [number, number];
  run(ctx: Context): Promise<void>;
}

export function stringOption(ctx: Context, name: string): string | undefined {
  const value = ctx.options[name];
  return typeof value === 'string' ? value : undefined;
}

export function requiredOption(ctx: Context, name: string): string {
  const value = stringOption(ctx, name);
  if (value === undefined || value === '') throw usage(`--${name} is required`);
  return value;
}

export function intOption(ctx: Context, name: string): number | undefined {
  const value = stringOption(ctx, name);
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw usage(`--${name} must be a whole number, not "${value}"`);
  return Number(value);
}

export function listOption(ctx: Context, name: string): string[] | undefined {
  const value = stringOption(ctx, name);
  return value === undefined ? undefined : value.split(',').map((s) => s.trim()).filter(Boolean);
}

/** `--timeout` in seconds, as milliseconds. */
export function timeoutMs(ctx: Context, defaultSeconds: number): number {
  const value = stringOption(ctx, 'timeout');
  if (value === undefined) return defaultSeconds * 1000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw usage(`--timeout must be a positive number of seconds, not "${value}"`);
  return seconds * 1000;
}

/**
 * `--secret S`; `--secret -` reads it from stdin (scripts); without it a terminal asks for
 * it with the typing hidden. Both keep it out of the process list and the shell history.
 */
export async function secretOption(ctx: Context): Promise<string> {
  const value = stringOption(ctx, 'secret');
  if (value === undefined && process.stdin.isTTY && !ctx.out.json) return promptHidden('Secret (hidden): ');
  if (value === undefined || value === '') throw usage('--secret is required (or run in a terminal to be asked for it)');
  if (value !== '-') return value;
  const rl = createInterface({ input: process.stdin, terminal: false });
  try {
    for await (const line of rl) return line.trim();
  } finally {
    rl.close();
  }
  throw usage('--secret -: nothing on stdin');
}

/** Reads one line from the terminal without echoing it. */
export function promptHidden(question: string): Promise<string> {
  const { stdin, stderr } = process;
  stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  let typed = '';
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
      if (error) reject(error);
      else resolve(typed.trim());
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003') return done(new CliError('CANCELLED', 'Cancelled'));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else if (char >= ' ') typed += char;
      }
    };
    stdin.on('data', onData);
  });
}
