import { describe, expect, it } from 'vitest';
import { PROCEDURES, type ProcedureContract } from '@omechat/protocol';
import { appRouter } from './router.js';

/**
 * The router keeps the contract: every procedure on the wire is in @omechat/protocol's
 * PROCEDURES, of the same kind, with exactly its input and output schemas (declared outputs
 * included), so the JSON Schema and docs/protocol.md describe everything the server serves.
 */
interface ProcedureDef {
  type: string;
  inputs: unknown[];
  output?: unknown;
}
const served = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: ProcedureDef }>);
const contract = PROCEDURES as Record<string, ProcedureContract>;

describe('the router and the protocol contract', () => {
  it('serve the same procedures', () => {
    expect(served.map(([path]) => path).sort()).toEqual(Object.keys(contract).sort());
  });

  it.each(served)('%s has the kind, input and output schema the contract gives it', (path, { _def }) => {
    const expected = contract[path]!;
    expect(_def.type).toBe(expected.kind);
    expect(_def.inputs, 'one input schema').toHaveLength(1);
    expect(_def.inputs[0] === expected.input, 'input schema is the contract one').toBe(true);
    const output = _def.output as { declares?: unknown } | undefined;
    expect(output, 'an output schema').toBeDefined();
    expect((output?.declares ?? output) === expected.output, 'output schema is the contract one').toBe(true);
  });
});
