// Writes test-vectors/e2e-v1.json and e2e-v2.json. Run by hand (`npx tsx src/crypto/vectors.gen.ts`
// in packages/sdk) when the protocol version changes; vectors*.test.ts then pin the output.
// Both are deterministic: regenerating v1 with a v2 engine gives the same bytes.
import { writeFileSync } from 'node:fs';
import { buildVectors } from './test-vectors.js';
import { buildVectorsV2 } from './test-vectors-v2.js';

const write = (name: string, value: unknown) =>
  writeFileSync(new URL(`../../test-vectors/${name}`, import.meta.url), `${JSON.stringify(value, null, 2)}\n`);
write('e2e-v1.json', buildVectors());
write('e2e-v2.json', buildVectorsV2());
