import { parseArgs } from 'node:util';
import { accountCommands } from './commands/account.js';
import { interactiveCommands } from './commands/chat.js';
import { chatCommands } from './commands/chats.js';
import { timeoutMs, type Command, type Context, type OptionSpec } from './context.js';
import { EXIT, toCliError, usage } from './errors.js';
import { Output } from './format.js';
import { LocalState } from './state.js';

const DEFAULT_URL = 'ws://localhost:8080/trpc';
/** How long any command waits for the server's socket to open (less with a shorter --timeout). */
const CONNECT_TIMEOUT_MS = 10_000;

const app: Command = {
  args: '',
  summary: 'the full-screen app: chat list, search, chat with receipts and typing (the default in a terminal)',
  // Loaded only here: ink and React are not needed by any other command.
  run: async (ctx) => (await import('./app/run.js')).runApp(ctx),
};

const COMMANDS: Record<string, Command> = { app, ...accountCommands, ...chatCommands, ...interactiveCommands };

const GLOBAL_OPTIONS: OptionSpec = {
  server: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return [
    'omechat: talk to a stranger, end-to-end encrypted.',
    '',
    'Usage: omechat [command] [options]   (no command in a terminal: the app)',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.args ? `${c.args}\n  ${''.padEnd(width)}    ` : ''}${c.summary}`),
    '',
    'Options for every command:',
    `  --server URL   the server (default: $OMECHAT_URL or ${DEFAULT_URL})`,
    '  --json         one JSON object per line on stdout; errors as {"error":{"code","message"}}',
    '  --timeout S    seconds to wait for the server (at most 10) and, for match and chat, for a partner',
    '  --help         this text',
    '',
    'State lives in $OMECHAT_HOME (default ~/.omechat). Exit codes: 0 ok, 1 error, 64 usage.',
  ].join('\n');
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const out = new Output(argv.includes('--json'));
  try {
    const interactive = process.stdin.isTTY && process.stdout.isTTY && !argv.includes('--json');
    const [name, ...rest] = argv.length === 0 && interactive ? ['app'] : argv;
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      if (name === undefined) {
        out.notice(help());
        throw usage('a command is needed');
      }
      out.line(help());
      return EXIT.ok;
    }
    const command = COMMANDS[name];
    if (!command) throw usage(`unknown command "${name}"; \`omechat help\` lists them`);
    let parsed;
    try {
      parsed = parseArgsWithIds(rest, { ...GLOBAL_OPTIONS, ...command.options });
    } catch (error) {
      throw usage(error instanceof Error ? error.message : String(error));
    }
    if (parsed.values.help) {
      out.line(`Usage: omechat ${name} ${command.args}\n\n${command.summary}`);
      return EXIT.ok;
    }
    const [min, max] = command.positionals ?? [0, 0];
    const count = parsed.positionals.length;
    if (count < min || count > max) throw usage(`usage: omechat ${name} ${command.args}`);
    const options: Context['options'] = parsed.values;
    const ctx: Context = {
      server: {
        url: (parsed.values.server as string | undefined) ?? env.OMECHAT_URL ?? DEFAULT_URL,
        connectTimeoutMs: 0,
      },
      out,
      state: LocalState.fromEnv(env),
      options,
      positionals: parsed.positionals,
    };
    ctx.server.connectTimeoutMs = Math.min(CONNECT_TIMEOUT_MS, timeoutMs(ctx, CONNECT_TIMEOUT_MS / 1000));
    await command.run(ctx);
    return EXIT.ok;
  } catch (error) {
    const e = toCliError(error);
    out.error(e);
    return e.exitCode;
  }
}

/**
 * IDs and secrets are URL-safe base64, so one in 64 starts with '-': such an argument is a
 * value (`revoke -K3f…`, `--secret -x…`), never an option. It is parsed as a stand-in and
 * put back after.
 */
function parseArgsWithIds(args: string[], options: OptionSpec): { values: Context['options']; positionals: string[] } {
  const values = new Map<string, string>();
  const standIn = (arg: string) => {
    if (!/^-[A-Za-z0-9_-]{15,}$/.test(arg) || arg.slice(2) in options) return arg;
    const key = `\u0000${values.size}`;
    values.set(key, arg);
    return key;
  };
  const parsed = parseArgs({ args: args.map(standIn), options, allowPositionals: true, strict: true });
  const back = <T>(value: T): T => (typeof value === 'string' ? ((values.get(value) ?? value) as T) : value);
  return {
    values: Object.fromEntries(Object.entries(parsed.values).map(([name, value]) => [name, back(value)])),
    positionals: parsed.positionals.map(back),
  };
}
