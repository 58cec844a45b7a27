import { createInterface } from 'node:readline';
import { usage } from './errors.js';
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

/** `--secret S`, or `--secret -` to read it from stdin and keep it out of the process list. */
export async function secretOption(ctx: Context): Promise<string> {
  const value = requiredOption(ctx, 'secret');
  if (value !== '-') return value;
  const rl = createInterface({ input: process.stdin, terminal: false });
  try {
    for await (const line of rl) return line.trim();
  } finally {
    rl.close();
  }
  throw usage('--secret -: nothing on stdin');
}
