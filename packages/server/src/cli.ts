import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.js';
import { createCoreFromConfig } from './compose.js';
import { importSeed } from './core/seed-import.js';
import { main } from './main.js';
import { settingsTable } from './settings-help.js';

const USAGE = `Usage:
  omechat-server [serve]                                   start the server (configured by OMECHAT_* env vars)
  omechat-server import-seed --users user.json --clients client.json
                                                           import accounts in the original OmeChat format
  omechat-server --help                                    this text and every setting
`;

async function runImportSeed(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { users: { type: 'string' }, clients: { type: 'string' } } });
  if (!values.users || !values.clients) {
    process.stderr.write(USAGE);
    return 64;
  }
  const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));
  const core = await createCoreFromConfig(loadConfig());
  try {
    const report = await importSeed(core.deps, readJson(values.users), readJson(values.clients));
    for (const p of report.problems) process.stderr.write(`skipped ${p.file} record ${JSON.stringify(p.key)}: ${p.reason}\n`);
    process.stdout.write(`${JSON.stringify({ usersImported: report.usersImported, clientsImported: report.clientsImported, skipped: report.problems.length })}\n`);
    return 0;
  } finally {
    await core.close();
  }
}

const [command = 'serve', ...rest] = process.argv.slice(2);
try {
  if (command === 'serve') await main();
  else if (command === 'import-seed') process.exitCode = await runImportSeed(rest);
  else if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\nSettings (environment variables; OMECHAT_DEV=1 changes some defaults, see README):\n\n${settingsTable()}\n`);
  }
  else {
    process.stderr.write(USAGE);
    process.exitCode = 64;
  }
} catch (err) {
  process.stderr.write(`omechat-server: ${err instanceof ConfigError || err instanceof SyntaxError ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
