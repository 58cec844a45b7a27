import { resolve } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The repository's own lint config (eslint.config.js at the root) on snippets placed where they
// would live. The files do not exist, so no type information: only the import rule runs.
const eslint = new ESLint({
  cwd: resolve(import.meta.dirname, '../../..'),
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
  ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-imports',
});

async function refusals(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.map((m) => m.message);
}

describe('the lint keeps imports running one way', () => {
  it('refuses a core module that imports an adapter, the tRPC layer, the transport or a driver', async () => {
    const core = 'packages/server/src/core/layering-probe.ts';
    for (const from of ['../adapters/storage/memory/index.js', '../trpc/router.js', '../transport/server.js', '../compose.js', 'pg', '@trpc/server']) {
      expect(await refusals(`import * as x from '${from}';\nexport default x;\n`, core), from).toEqual([expect.stringContaining('The core imports @omechat/protocol and its own ports only')]);
    }
    expect(await refusals(`export type { Storage } from '../ports/storage.js';\nexport { LIMITS } from '@omechat/protocol';\n`, core)).toEqual([]);
  });

  it("refuses a relative import into another package's src/ or test/, and takes its exports", async () => {
    const e2e = 'packages/e2e/test/layering-probe.e2e.test.ts';
    const intoServer = "import { networkKeyOf } from '../../server/src/transport/network.js';\nexport default networkKeyOf;\n";
    expect(await refusals(intoServer, e2e)).toEqual([expect.stringContaining("Another package's code comes through its exports")]);
    expect(await refusals("export { E2EDevice } from '../../sdk/src/crypto/device.js';\n", e2e)).toHaveLength(1);
    expect(await refusals("export { MessageCache } from '../packages/server/src/core/message-cache.ts';\n", 'bench/layering-probe.ts')).toHaveLength(1);
    expect(await refusals("export { networkKeyOf } from '@omechat/server/testing';\nexport { harnessOnly } from './harness.js';\n", e2e)).toEqual([]);
  });
});
