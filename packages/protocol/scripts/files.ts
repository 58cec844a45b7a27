import { join } from 'node:path';
import { buildJsonSchema, buildProcedureIndex } from './json-schema.js';
import { buildReference } from './reference.js';

const pkg = join(import.meta.dirname, '..');

/** Every generated file, by absolute path, with the text it must hold. */
export function generatedFiles(): [string, string][] {
  const asJson = (value: unknown) => JSON.stringify(value, null, 2) + '\n';
  return [
    [join(pkg, 'schema/omechat.schema.json'), asJson(buildJsonSchema())],
    [join(pkg, 'schema/procedures.json'), asJson(buildProcedureIndex())],
    [join(pkg, '../../docs/protocol.md'), buildReference()],
  ];
}
