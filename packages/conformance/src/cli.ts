import { parseArgs } from 'node:util';
import { runConformance } from './run.js';

const USAGE = `Usage: omechat-conformance --url ws://host:port/trpc [--admin-token TOKEN] [--timeout-ms 10000]

Checks that the server at --url speaks the OmeChat protocol, with raw WebSocket frames and the
JSON Schema of @omechat/protocol. Run it against a server nobody else uses: it registers
five accounts (six registration attempts from this address) and matches them. Exits 0 when
every check passes, 1 otherwise, 64 on bad usage. With the server's admin token (or
OMECHAT_ADMIN_TOKEN) it also checks the moderation API, bans and close code 4004.
`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      url: { type: 'string' },
      'admin-token': { type: 'string' },
      'timeout-ms': { type: 'string', default: '10000' },
      help: { type: 'boolean' },
    },
  }));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n${USAGE}`);
  process.exit(64);
}
const timeoutMs = Number(values['timeout-ms']);
if (values.help || !values.url || !/^wss?:\/\//.test(values.url) || !(timeoutMs > 0)) {
  process.stderr.write(USAGE);
  process.exit(values.help ? 0 : 64);
}
const outcomes = await runConformance({
  url: values.url,
  adminToken: values['admin-token'] ?? process.env.OMECHAT_ADMIN_TOKEN,
  timeoutMs,
  out: (line) => process.stdout.write(`${line}\n`),
});
process.exitCode = outcomes.some((o) => o.result === 'fail') ? 1 : 0;
