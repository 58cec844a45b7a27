import { z } from 'zod';
import {
  adminConnectionParamsSchema,
  CLOSE_CODE_DESCRIPTIONS,
  CLOSE_CODES,
  clientFrame,
  connectionParamsSchema,
  envelopeSchema,
  ERROR_CODES,
  ERROR_DESCRIPTIONS,
  errorDetailsSchema,
  errorShapeSchema,
  eventBatchSchema,
  eventIdSchema,
  COMMON_ERRORS,
  LIMITS,
  noInput,
  omeEventSchema,
  PROCEDURES,
  PROTOCOL_VERSION,
  serverFrame,
  type CloseCodeName,
  type ProcedureContract,
} from '../src/index.js';

/**
 * JSON Schema (draft 2020-12) for the whole contract, from the zod schemas with zod 4's own
 * `z.toJSONSchema`. Where zod cannot express a rule in JSON Schema (refinements such as the
 * envelope's byte limit, transforms such as NFKC normalisation), the schema is looser than
 * the server and the rule is stated in a `description`; the server stays the judge.
 */

const SCHEMA_ID = 'urn:omechat:protocol';
export const DRAFT = 'https://json-schema.org/draft/2020-12/schema';

type Json = Record<string, unknown>;

function convert(schema: z.ZodType, io: 'input' | 'output'): Json {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'throw' }) as Json;
  delete json.$schema;
  return json;
}

/** How a procedure's result travels: a subscription item is tracked as `{id, data}`. */
function wireOutput(p: ProcedureContract): Json {
  const output = convert(p.output, 'output');
  if (p.kind !== 'subscription') return output;
  const id = convert(eventIdSchema, 'output');
  return {
    type: 'object',
    description: 'One subscription item: `id` is the resume id (opaque), `data` the item.',
    properties: { id, data: output },
    required: ['id', 'data'],
    additionalProperties: false,
  };
}

export function procedureDefName(path: string, part: 'input' | 'output'): string {
  return `${path}.${part}`;
}

export function buildJsonSchema(): Json {
  const defs: Record<string, Json> = {
    protocolVersion: { type: 'string', const: PROTOCOL_VERSION, description: 'The protocol version these schemas describe.' },
    connectionParams: { ...convert(connectionParamsSchema, 'input'), description: "A device's credentials, sent as tRPC connectionParams." },
    adminConnectionParams: { ...convert(adminConnectionParamsSchema, 'input'), description: 'A moderator tool\'s credentials, sent as tRPC connectionParams.' },
    envelope: convert(envelopeSchema, 'input'),
    eventId: { ...convert(eventIdSchema, 'output'), description: 'The resume cursor: store it and send it back as `lastEventId`; never parse it.' },
    event: convert(omeEventSchema, 'output'),
    eventBatch: convert(eventBatchSchema, 'output'),
    errorCode: {
      type: 'string',
      oneOf: ERROR_CODES.map((code) => ({ const: code, description: ERROR_DESCRIPTIONS[code] })),
    },
    errorDetails: convert(errorDetailsSchema, 'output'),
    error: convert(errorShapeSchema, 'output'),
    closeCode: {
      type: 'integer',
      oneOf: (Object.keys(CLOSE_CODES) as CloseCodeName[]).map((name) => ({
        const: CLOSE_CODES[name],
        title: name,
        description: CLOSE_CODE_DESCRIPTIONS[name],
      })),
    },
    clientFrame: convert(clientFrame, 'input'),
    serverFrame: convert(serverFrame, 'output'),
  };
  for (const [path, p] of Object.entries(PROCEDURES) as [string, ProcedureContract][]) {
    if (p.input !== noInput) {
      defs[procedureDefName(path, 'input')] = { title: `${path} input`, ...convert(p.input, 'input') };
    }
    defs[procedureDefName(path, 'output')] = { title: `${path} output`, ...wireOutput(p) };
  }
  return {
    $schema: DRAFT,
    $id: `${SCHEMA_ID}:${PROTOCOL_VERSION}`,
    title: `OmeChat protocol ${PROTOCOL_VERSION}`,
    description:
      'Every frame, procedure input and output, event, error and close code of the OmeChat protocol. Generated from @omechat/protocol; see docs/protocol.md.',
    $defs: defs,
  };
}

/** The machine-readable list of procedures (pointing into the schema's `$defs`) and limits. */
export function buildProcedureIndex(): Json {
  const ref = (name: string) => `#/$defs/${name}`;
  return {
    protocol: PROTOCOL_VERSION,
    /** Sizes the server enforces (bytes, characters, counts). */
    limits: LIMITS,
    procedures: Object.fromEntries(
      (Object.entries(PROCEDURES) as [string, ProcedureContract][]).map(([path, p]) => [
        path,
        {
          kind: p.kind,
          auth: p.auth,
          summary: p.summary,
          input: p.input === noInput ? null : ref(procedureDefName(path, 'input')),
          /** True when the frame may leave `input` out. */
          inputOptional: p.input === noInput || p.input.safeParse(undefined).success,
          output: ref(procedureDefName(path, 'output')),
          errors: [...new Set([...COMMON_ERRORS[p.auth], ...p.errors])],
          ...(p.rateLimit ? { rateLimit: p.rateLimit } : {}),
          example: p.example,
        },
      ]),
    ),
  };
}
