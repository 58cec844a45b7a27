import {
  CLOSE_CODE_DESCRIPTIONS,
  CLOSE_CODES,
  COMMON_ERRORS,
  ERROR_CODES,
  ERROR_DESCRIPTIONS,
  KEEPALIVE,
  LIMITS,
  noInput,
  PROCEDURES,
  PROTOCOL_VERSION,
  type CloseCodeName,
  type ProcedureContract,
} from '../src/index.js';
import { buildJsonSchema, procedureDefName } from './json-schema.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { POW_WORKED_EXAMPLE } from '../src/pow.js';

/**
 * Ann's frames of a real exchange with the reference server on its default settings, recorded
 * by packages/conformance/scripts/record-first-session.ts (and checked against a fresh server
 * by packages/conformance/test/first-session.test.ts).
 */
interface RecordedStep {
  title: string;
  url: string;
  frames: { dir: string; frame: unknown }[];
}
const firstSession = () => JSON.parse(readFileSync(join(import.meta.dirname, 'first-session.json'), 'utf8')) as RecordedStep[];

/** What each recorded step shows, before its frames. */
const STEP_TEXT: Record<string, string> = {
  register:
    'On an anonymous connection to `ws://HOST:PORT/trpc`: fetch a proof-of-work challenge, solve it ' +
    '([Proof-of-work](#proof-of-work)), register with it (the challenge goes back unchanged), and sign a device in:',
  match:
    'Connect again to `ws://HOST:PORT/trpc?connectionParams=1` as that device. Two calls sent as one ' +
    'frame (an array) are answered by two frames, not by an array. Publish the device\'s keys ' +
    '(docs/e2e.md), subscribe to events (the first item is an empty batch: the stream is live), and ' +
    'look for a stranger; `match.found` arrives on the stream:',
  chat:
    'Which devices to write to: `keys.bundles` for the peer (also the prekeys to start an encrypted ' +
    'session; `keys.devices` lists identities only). Only devices that have uploaded keys are listed: ' +
    'clients do it right after signing in, so a peer matched a moment after signing in may have none ' +
    'yet; ask again shortly rather than send to nobody. Send an envelope with one part per device; the ' +
    'ack is the sender\'s copy. `message.delivered` follows once the peer\'s device has the message, ' +
    'then the peer\'s reply arrives as `message.new`:',
  resume:
    'The connection dropped. On a new one, subscribe with the resume id of the last item processed ' +
    '(here the `match.found` item) as `lastEventId`: `started`, then the usual empty first batch, then ' +
    'in the next item(s) every stored event after that id, once, then live events. `subscription.stop` ' +
    'ends the subscription:',
};

function sessionSection(): string {
  return firstSession()
    .map((step) => {
      const text = STEP_TEXT[step.title];
      if (!text) throw new Error(`first-session.json: no text for step ${step.title}`);
      return `${text}

${block('text', step.frames.map((f) => `${f.dir} ${json(f.frame)}`).join('\n'))}`;
    })
    .join('\n\n');
}

function powSection(): string {
  const { challenge, solution } = POW_WORKED_EXAMPLE;
  const p = challenge.parameters;
  return `## Proof-of-work

\`account.register\` on the reference server needs a solved proof-of-work (\`POW_REQUIRED\` without
one); \`account.challenge\` hands out the challenge, or \`null\` when a server requires none. It
follows ALTCHA v2 in its "deterministic" form; everything needed to solve it is here.

The challenge (\`$defs["account.challenge.output"]\`):

| field | meaning |
| --- | --- |
| \`parameters.algorithm\` | \`PBKDF2/SHA-256\`: the key derivation, PBKDF2 with HMAC-SHA-256 (the only one the reference server issues) |
| \`parameters.nonce\` | hex; its bytes start every password |
| \`parameters.salt\` | hex; its bytes (hex-decoded, not the text) are PBKDF2's salt |
| \`parameters.cost\` | PBKDF2 iterations per attempt (1000) |
| \`parameters.keyLength\` | derived key length in bytes (32) |
| \`parameters.keyPrefix\` | lower-case hex: the derived key that solves the challenge starts with it |
| \`parameters.keySignature\` | for the server (it verifies with it); ignore it |
| \`parameters.expiresAt\` | when the challenge expires, in **seconds** since the epoch (every other time in this protocol is in milliseconds); after it the server answers \`POW_EXPIRED\` |
| \`parameters.data.max\` | the most attempts a solution can need: the answer's counter is below it (use it for a progress bar) |
| \`parameters.data.net\` | binds the challenge to the network it was priced for; a solution from another network is \`POW_INVALID\` |
| \`signature\` | the server's HMAC over the parameters; never change anything in the challenge |

To solve it, for \`counter\` = 0, 1, 2, …:

1. password = the nonce's bytes followed by \`counter\` as 4 bytes, big-endian (unsigned 32-bit);
2. key = PBKDF2-HMAC-SHA-256(password, salt bytes, \`cost\` iterations, \`keyLength\` bytes);
3. if the key in lower-case hex starts with \`keyPrefix\`, that counter is the answer.

Send \`account.register\` with \`pow\`: \`{"challenge": <the challenge exactly as received>, "solution":
{"counter": <counter>, "derivedKey": "<the key, lower-case hex>"}}\` (an optional \`time\`, the ms it took,
is informative). Each solution registers at most one account (\`POW_REPLAYED\` after), and a wrong one is
\`POW_INVALID\`: fetch a new challenge then.

**Difficulty.** The server picks the answer's counter at random in [max/2, max), so a solution takes at
most \`max\` attempts, half of that on average. On the reference server \`max\` is 4000 (about a second)
while registrations are quiet; it is 8 times higher while the caller's network has registered more than
3 accounts in 10 minutes, and 8 times higher again while all networks together registered more than 600
in 10 minutes (both configurable: docs/safety.md, "Registration proof-of-work"). Challenges are
rate-limited per network (\`RATE_LIMITED\`).

**Worked example** (a challenge issued with a throw-away key):

${block('json', pretty(challenge))}

Password for counter 0: \`${p.nonce}00000000\` (hex), for counter 1 \`${p.nonce}00000001\`, and so on.
Counter ${solution.counter} gives the key \`${solution.derivedKey}\`, which starts with the \`keyPrefix\`
\`${p.keyPrefix}\`, so the solution is:

${block('json', pretty({ counter: solution.counter, derivedKey: solution.derivedKey }))}
`;
}

/**
 * docs/protocol.md, rendered from the same tables and schemas as the JSON Schema, so the
 * page cannot describe a procedure, field, error or close code the contract does not have.
 */

const json = (value: unknown) => JSON.stringify(value);
const pretty = (value: unknown) => JSON.stringify(value, null, 2);
const block = (lang: string, text: string) => '```' + lang + '\n' + text + '\n```';

const AUTH_WORDS: Record<ProcedureContract['auth'], string> = {
  public: 'anyone (no credentials needed)',
  device: 'a signed-in device (connect with its connectionParams)',
  admin: 'a moderator (connect with the admin token)',
};

const sampleEventId = '1042';

function requestFrame(id: number, path: string, p: ProcedureContract) {
  const params: Record<string, unknown> = { path };
  if (p.example.input !== undefined) params.input = p.example.input;
  return { id, method: p.kind, params };
}

function procedureSection(path: string, p: ProcedureContract, schema: { $defs: Record<string, unknown> }): string {
  const errors = [...new Set([...COMMON_ERRORS[p.auth], ...p.errors])];
  const own = p.errors.length ? p.errors.map((e) => `\`${e}\``).join(', ') : 'none';
  const lines = [
    `#### \`${path}\``,
    '',
    p.summary,
    '',
    `- **kind**: ${p.kind}`,
    `- **who**: ${AUTH_WORDS[p.auth]}`,
    `- **input**: ${p.input === noInput ? 'none (leave `input` out)' : `\`$defs["${procedureDefName(path, 'input')}"]\``}`,
    `- **output**: \`$defs["${procedureDefName(path, 'output')}"]\``,
    `- **errors**: ${own} besides the common ${errors.filter((e) => !p.errors.includes(e)).map((e) => `\`${e}\``).join(', ')}`,
  ];
  if (p.rateLimit) lines.push(`- **rate limit**: ${p.rateLimit}`);
  lines.push('', 'Example:', '');
  const request = requestFrame(1, path, p);
  const frames: string[] = [`→ ${json(request)}`];
  if (p.kind === 'subscription') {
    frames.push(`← ${json({ id: 1, result: { type: 'started' } })}`);
    frames.push(`← ${json({ id: 1, result: { type: 'data', id: sampleEventId, data: { id: sampleEventId, data: p.example.output } } })}`);
  } else {
    frames.push(`← ${json({ id: 1, result: { type: 'data', data: p.example.output } })}`);
  }
  lines.push(block('text', frames.join('\n')), '');
  const details: string[] = [];
  if (p.input !== noInput) details.push(`Input:\n\n${block('json', pretty(schema.$defs[procedureDefName(path, 'input')]))}`);
  details.push(`Output:\n\n${block('json', pretty(schema.$defs[procedureDefName(path, 'output')]))}`);
  lines.push('<details><summary>JSON Schema</summary>', '', details.join('\n\n'), '', '</details>', '');
  return lines.join('\n');
}

export function buildReference(): string {
  const schema = buildJsonSchema() as { $defs: Record<string, unknown> };
  const procedures = Object.entries(PROCEDURES) as [string, ProcedureContract][];
  const namespaces = [...new Set(procedures.map(([path]) => path.slice(0, path.lastIndexOf('.'))))];
  const closeRows = (Object.keys(CLOSE_CODES) as CloseCodeName[]).map(
    (name) => `| ${CLOSE_CODES[name]} | \`${name}\` | ${CLOSE_CODE_DESCRIPTIONS[name]} |`,
  );
  const limitRows = Object.entries(LIMITS).map(([name, value]) => `| \`${name}\` | ${value} |`);
  const errorRows = ERROR_CODES.map((code) => `| \`${code}\` | ${ERROR_DESCRIPTIONS[code]} |`);
  const login = PROCEDURES['account.login'];
  const creds = { clientHash: login.example.output.clientHash, accessToken: login.example.output.accessToken };

  return `<!-- Generated by packages/protocol/scripts/generate.ts from @omechat/protocol. Do not edit: run \`npx -y pnpm@10.34.9 --filter @omechat/protocol run generate\`. -->

# The OmeChat protocol, version ${PROTOCOL_VERSION}

OmeChat speaks tRPC v11 over one WebSocket: JSON text frames, no transformer. This page is
everything a client needs; any WebSocket library will do. The same contract is published as
JSON Schema (draft 2020-12) in \`@omechat/protocol\`:

- \`schema/omechat.schema.json\` (\`@omechat/protocol/schema.json\`): every frame, input, output,
  event, error and close code under \`$defs\`;
- \`schema/procedures.json\` (\`@omechat/protocol/procedures.json\`): each procedure's kind, who may
  call it, its errors and pointers into \`$defs\`.

\`omechat-conformance --url ws://host:port/trpc\` (packages/conformance) checks a server against
this page with raw frames.

Contents: [Connecting](#connecting) · [Frames](#frames) · [Proof-of-work](#proof-of-work) · [A first session](#a-first-session) ·
[Errors](#errors) · [The event stream](#the-event-stream) · [Procedures](#procedures) ·
[Limits](#limits) · [Rate limits](#rate-limits) · [Close codes](#close-codes) · [Versioning](#versioning)

## Connecting

- **URL**: \`ws://HOST:PORT/trpc\` (\`wss://\` behind TLS). The same port serves \`GET /healthz\`,
  which answers \`{"status":"ok","protocol":"${PROTOCOL_VERSION}",…}\`.
- **Anonymous**: connect to \`/trpc\`. Only procedures open to anyone work (${procedures
    .filter(([, p]) => p.auth === 'public')
    .map(([path]) => `\`${path}\``)
    .join(', ')}).
- **As a device**: connect to \`/trpc?connectionParams=1\` and send, as the very first frame,
  the credentials \`account.login\` returned (all values are strings):

  ${block('json', json({ method: 'connectionParams', data: creds })).replaceAll('\n', '\n  ')}

  The server reads nothing else before this frame. Credentials belong to the connection: after
  \`account.login\` on an anonymous connection, open a new one with them. Credentials that do not
  identify a live device are refused: calls are answered \`UNAUTHORIZED\`, then the socket
  closes with 4001 (soon, even without a call); do not reconnect with them.
- **Keep-alive**: after a quiet spell (30 s by default) the server sends the text frame
  \`${KEEPALIVE.ping}\` (not JSON); answer \`${KEEPALIVE.pong}\`. Any frame from the client counts as an
  answer. A client that stays silent for the pong wait (10 s by default) is dropped. A client may
  send \`${KEEPALIVE.ping}\` itself; the server answers \`${KEEPALIVE.pong}\`.
- **Size**: a frame over ${LIMITS.maxFrameBytes} bytes closes the socket with 1009.
- **What a socket may cost** (the reference server's defaults; each server sets its own): the
  upgrade is answered HTTP 503 while the caller's network (an IPv4 /24; an IPv6 /64, /56 or /48)
  or the server holds as many sockets as it allows; a socket opened with \`?connectionParams=1\`
  that has not sent them within 5 s is closed with 4002; a frame that is not a request, or a
  batch of more than 50 calls, gets one error and its socket is closed with 4002; 64 calls may
  run at once per connection (more are refused \`RATE_LIMITED\`); one \`events.stream\` per
  connection (a second is refused \`CONFLICT\`); a client that leaves more than 4 MiB of output
  unread is closed with 4008.

## Frames

Client to server (\`$defs.clientFrame\`):

| frame | shape |
| --- | --- |
| call | \`{"id": 1, "method": "query" \\| "mutation", "params": {"path": "account.me", "input": …}}\` |
| subscribe | \`{"id": 2, "method": "subscription", "params": {"path": "events.stream", "input": {…}, "lastEventId": "…"}}\` |
| unsubscribe | \`{"id": 2, "method": "subscription.stop"}\` |
| credentials | \`{"method": "connectionParams", "data": {…}}\`, first frame only |

\`id\` is a number or string the client picks, unique among its open calls; \`"jsonrpc": "2.0"\` may be
added and is then echoed. Leave \`input\` out for procedures without input. Several calls may be sent
as one JSON array (at most 50 by default); each is answered by a frame of its own (the replies are
not an array, and may come in any order): match them by \`id\`.

Server to client (\`$defs.serverFrame\`):

| frame | shape |
| --- | --- |
| result | \`{"id": 1, "result": {"type": "data", "data": …}}\`: one per query or mutation |
| subscription started | \`{"id": 2, "result": {"type": "started"}}\` |
| subscription item | \`{"id": 2, "result": {"type": "data", "id": "<eventId>", "data": {"id": "<eventId>", "data": …}}}\` |
| subscription stopped | \`{"id": 2, "result": {"type": "stopped"}}\`: after \`subscription.stop\` or when the server ends it |
| error | \`{"id": 1, "error": {"code": -32600, "message": "…", "data": {…}}}\`; \`id\` is null for errors about the connection or an unreadable frame |
| reconnect | \`{"id": null, "method": "reconnect"}\`: the server is about to restart; reconnect and resubscribe with \`lastEventId\` |

${powSection()}
## A first session

Recorded from a real exchange with the reference server on its default settings
(\`packages/conformance/scripts/record-first-session.ts\`; a test repeats it against a fresh server
and fails when any frame's shape differs). These are Ann's frames only (→ sent, ← received); her
stranger Ben is driven alongside. Hashes, tokens, times and ids are those of that run.

${sessionSection()}

## Errors

Every failed call is answered with an error frame (\`$defs.error\`); act on \`data.omechatCode\`:

${block(
  'json',
  pretty({
    id: 5,
    error: {
      code: -32600,
      message: 'Invalid input: chatId',
      data: { code: 'BAD_REQUEST', httpStatus: 400, path: 'message.send', omechatCode: 'BAD_REQUEST', details: { fields: ['chatId'] } },
    },
  }),
)}

\`code\` and \`data.code\` are tRPC's (JSON-RPC number and name); \`message\` is safe to show and never
carries a stack trace. \`data.details\` carries \`retryAfterMs\` (RATE_LIMITED), \`banLayer\` and
\`banExpiresAt\` (BANNED) or \`fields\` (BAD_REQUEST, PAYLOAD_TOO_LARGE: paths only, never values).

| omechatCode | meaning |
| --- | --- |
${errorRows.join('\n')}

Every call can fail with the common errors of who may call it: ${(['public', 'device', 'admin'] as const)
    .map((a) => `${a}: ${COMMON_ERRORS[a].map((e) => `\`${e}\``).join(', ')}`)
    .join('; ')}. Each procedure lists its own besides.

## The event stream

\`events.stream\` is the one subscription: everything the server pushes to a device. Each item is
a batch \`{"events": [...]}\` of the events pending at the time, sent with a resume id (\`result.id\`,
also \`data.id\`). Subscribe once per connection:

- The first item is an empty batch: the stream is live, and its id is already a resume point.
- Keep the id of the last item you processed. It is a string of decimal digits (the schema's
  \`eventId\`, at most 16), but treat it as opaque: store it and send it back; do not parse it,
  do arithmetic on it, or compare ids across servers.
- After a reconnect, subscribe with \`"lastEventId": "<id>"\` (in \`params\` or in \`input\`): the first
  item is still the empty batch; every stored event after that id follows in the next item(s),
  once, then live events. Without it the stream starts from now.
- A device never receives \`message.new\` for its own messages (the \`message.send\` reply is its
  copy); the user's other devices do.
- \`chat.typing\` is ephemeral: never stored, never replayed.

| event | when |
| --- | --- |
| \`match.found\` | a stranger was found; a chat is open |
| \`message.new\` | a message in one of the user's chats, from the peer or the user's other device |
| \`message.delivered\` | the peer's device received messages up to \`seq\` |
| \`message.read\` | the peer read messages up to \`seq\` |
| \`chat.typing\` | the peer started or stopped typing |
| \`chat.ended\` | the chat ended: \`left\`, \`blocked\`, \`banned\` or \`deleted\` |
| \`session.revoked\` | one of the user's devices was revoked |

<details><summary>JSON Schema of an event</summary>

${block('json', pretty(schema.$defs.event))}

</details>

## Procedures

${namespaces
  .map(
    (ns) =>
      `### \`${ns}\`\n\n` +
      procedures
        .filter(([path]) => path.slice(0, path.lastIndexOf('.')) === ns)
        .map(([path, p]) => procedureSection(path, p, schema))
        .join('\n'),
  )
  .join('\n')}
## Limits

Sizes the server enforces (\`LIMITS\` in @omechat/protocol):

| limit | value |
| --- | --- |
${limitRows.join('\n')}

## Rate limits

A call over a limit fails with \`RATE_LIMITED\` and \`details.retryAfterMs\`; a network that opens
connections too fast has them closed with 4029. Limits keyed by network count at every level of
the caller's network (IPv6 /64, /56 and /48, each wider level allowing 4 times more; NAT64
\`64:ff9b::/96\` counts as the IPv4 it carries). Each server sets its own values (the reference
server's defaults are in the repository README, "Rate limits"). The limits are:
${[...new Set(procedures.flatMap(([path, p]) => (p.rateLimit ? [`- ${p.rateLimit}: \`${path}\``] : [])))].join('\n')}
- new connections per network: closed with 4029

## Close codes

Besides the standard ones (1000 normal, 1001 going away, 1006 dropped, 1009 frame too large):

| code | name | meaning |
| --- | --- | --- |
${closeRows.join('\n')}

After 4001, 4003 and 4004, reconnecting with the same credentials cannot succeed.

## Versioning

This is protocol version **${PROTOCOL_VERSION}** (\`major.minor\`). A client learns the server's version from
\`meta.version\` (open to anyone) or from \`GET /healthz\` (\`protocol\`), and should refuse a server
whose major differs from its own.

- **Minor** (1.0 → 1.1): additions only. A new procedure, event type, error code, close code, or
  optional input field; a new field in an output or event. Clients must ignore unknown fields and
  unknown event types, and treat an unknown error code like \`INTERNAL\`.
- **Major** (1.x → 2.0): anything that can break a client written against the older version.
  Removing or renaming a procedure, field, event type, error code or close code; a new required
  input field; narrowing what an input accepts or widening what an output may contain beyond
  the above (a new enum value in an existing field, a looser type); changing what a field,
  error or close code means; changing the framing, keep-alive or \`lastEventId\` semantics.
- Tightening a limit in \`LIMITS\` is major; loosening one is minor.
- The JSON Schema describes one version exactly (outputs have \`additionalProperties: false\`), so
  the conformance suite also catches fields a server sends without describing them. A client
  that validates replies at run time should drop that rule for a server of a newer minor, as
  the conformance suite does.
`;
}
