#!/usr/bin/env node
// Starts from the built bundle. In a fresh checkout it is built once on first use (or by
// `pnpm build`); an installed package ships it.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('omechat: building the terminal client once…\n');
  const app = fileURLToPath(new URL('..', import.meta.url));
  execFileSync(`${app}node_modules/.bin/tsup`, ['--silent'], { cwd: app, stdio: ['ignore', 'ignore', 'inherit'] });
}
const { main } = await import(entry.href);
// Exit explicitly: a socket or stdin left open by a failed command must not keep the CLI alive.
process.exit(await main(process.argv.slice(2)));
