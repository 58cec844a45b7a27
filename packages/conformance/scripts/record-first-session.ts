/**
 * Records "A first session" of docs/protocol.md from a real exchange with a server on its
 * default settings (started here from its binary on a throw-away SQLite file), into
 * packages/protocol/scripts/first-session.json; then regenerate the doc
 * (`pnpm --filter @omechat/protocol run generate`).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordFirstSession } from '../src/first-session.js';
import { startDefaultServer } from '../test/default-server.js';

const server = await startDefaultServer();
try {
  const steps = await recordFirstSession(server.url);
  const out = join(import.meta.dirname, '../../protocol/scripts/first-session.json');
  writeFileSync(out, JSON.stringify(steps, null, 2) + '\n');
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await server.stop();
}
