import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

/**
 * The published contract, read from @omechat/protocol's JSON files only (no zod, no
 * TypeScript types): what any client in any language would have.
 */

export interface ProcedureEntry {
  kind: 'query' | 'mutation' | 'subscription';
  auth: 'public' | 'device' | 'admin';
  input: string | null;
  inputOptional: boolean;
  output: string;
  errors: string[];
  example: { input?: unknown; output: unknown };
}

export interface ProcedureIndex {
  protocol: string;
  limits: Record<string, number>;
  procedures: Record<string, ProcedureEntry>;
}

const require = createRequire(import.meta.url);
const readJson = (specifier: string): unknown => JSON.parse(readFileSync(require.resolve(specifier), 'utf8'));

export interface Contract {
  index: ProcedureIndex;
  /** The protocol version the suite checks against. */
  version: string;
  /** Null when `value` matches `$defs[def]`, else what is wrong. */
  check(def: string, value: unknown): string | null;
  /**
   * For a server of a newer minor version: fields it adds to outputs and events are allowed
   * (a minor may add them; clients ignore them), everything else is still checked.
   */
  allowAddedFields(): void;
  /** Close codes by name. */
  closeCodes: Record<string, number>;
}

export function loadContract(): Contract {
  const schema = readJson('@omechat/protocol/schema.json') as { $id: string; $defs: Record<string, { oneOf?: { const: number; title: string }[] }> };
  const index = readJson('@omechat/protocol/procedures.json') as ProcedureIndex;
  let ajv = compiler(schema);
  const validators = new Map<string, ValidateFunction>();
  const validator = (def: string) => {
    let fn = validators.get(def);
    if (!fn) {
      fn = ajv.getSchema(`${schema.$id}#/$defs/${def.replace(/^#\/\$defs\//, '')}`);
      if (!fn) throw new Error(`the schema has no $defs/${def}`);
      validators.set(def, fn);
    }
    return fn;
  };
  const closeCodes = Object.fromEntries((schema.$defs.closeCode?.oneOf ?? []).map((c) => [c.title, c.const]));
  return {
    index,
    version: index.protocol,
    closeCodes,
    allowAddedFields() {
      ajv = compiler(withoutClosedObjects(schema));
      validators.clear();
    },
    check(def, value) {
      const fn = validator(def);
      return fn(value) ? null : ajv.errorsText(fn.errors, { dataVar: def.replace(/^#\/\$defs\//, '') });
    },
  };
}

function compiler(schema: object): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  ajv.addSchema(schema);
  return ajv;
}

/** A copy of the schema in which no object refuses properties it does not describe. */
function withoutClosedObjects<T>(schema: T): T {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) => (key === 'additionalProperties' && value === false ? undefined : value)) as T;
}
