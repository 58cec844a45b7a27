import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { noInput, PROCEDURES, type ProcedureContract } from '../src/index.js';
import { generatedFiles } from './files.js';
import { buildJsonSchema, procedureDefName } from './json-schema.js';

describe('generated contract files', () => {
  it.each(generatedFiles())('%s is up to date (run `pnpm --filter @omechat/protocol run generate`)', (path, text) => {
    expect(readFileSync(path, 'utf8') === text, `${path} is out of date`).toBe(true);
  });
});

describe('the JSON Schema', () => {
  const schema = buildJsonSchema();
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  ajv.addSchema(schema);
  const validate = (def: string, value: unknown) => {
    const fn = ajv.getSchema(`${schema.$id as string}#/$defs/${def}`);
    if (!fn) throw new Error(`no $defs/${def}`);
    return fn(value) ? null : ajv.errorsText(fn.errors);
  };

  it.each(Object.entries(PROCEDURES) as [string, ProcedureContract][])(
    "accepts %s's example, as zod does",
    (path, p) => {
      if (p.input !== noInput) {
        expect(p.input.safeParse(p.example.input).error).toBeUndefined();
        expect(validate(procedureDefName(path, 'input'), p.example.input)).toBeNull();
      } else {
        expect(p.example.input).toBeUndefined();
      }
      expect(p.output.safeParse(p.example.output).error).toBeUndefined();
      const onWire = p.kind === 'subscription' ? { id: '1', data: p.example.output } : p.example.output;
      expect(validate(procedureDefName(path, 'output'), onWire)).toBeNull();
    },
  );

  it('refuses what the contract refuses: unknown fields, wrong types, undescribed output fields', () => {
    expect(validate('account.register.input', { username: 'abc', age: 20, admin: true })).not.toBeNull();
    expect(validate('account.register.input', { username: 'abc', age: '20' })).not.toBeNull();
    expect(validate('message.send.output', { messageId: 'A'.repeat(22), seq: 1, sentAt: 1, extra: 1 })).not.toBeNull();
    expect(validate('event', { type: 'match.lost' })).not.toBeNull();
    expect(validate('closeCode', 4003)).toBeNull();
    expect(validate('closeCode', 4999)).not.toBeNull();
  });

  it('describes every server frame shape', () => {
    expect(validate('serverFrame', { id: 1, result: { type: 'data', data: { ok: true } } })).toBeNull();
    expect(validate('serverFrame', { id: 1, result: { type: 'started' } })).toBeNull();
    expect(validate('serverFrame', { id: null, method: 'reconnect' })).toBeNull();
    const error = { code: -32600, message: 'Invalid input: age', data: { code: 'BAD_REQUEST', httpStatus: 400, path: 'account.register', omechatCode: 'BAD_REQUEST', details: { fields: ['age'] } } };
    expect(validate('serverFrame', { id: 1, error })).toBeNull();
    expect(validate('serverFrame', { id: 1, error: { ...error, data: { ...error.data, omechatCode: 'TEAPOT' } } })).not.toBeNull();
  });
});
