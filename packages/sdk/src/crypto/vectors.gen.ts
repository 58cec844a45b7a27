// Writes test-vectors/e2e-v1.json. Run by hand (`npx tsx src/crypto/vectors.gen.ts` in
// packages/sdk) when the protocol version changes; vectors.test.ts then pins the output.
import { writeFileSync } from 'node:fs';
import { buildVectors } from './test-vectors.js';

writeFileSync(
  new URL('../../test-vectors/e2e-v1.json', import.meta.url),
  `${JSON.stringify(buildVectors(), null, 2)}\n`,
);
