import { metaVersionOutput, noInput, PROTOCOL_VERSION } from '@omechat/protocol';
import pkg from '../../../package.json' with { type: 'json' };
import { publicProcedure, router } from '../init.js';

const version = { protocol: PROTOCOL_VERSION, server: pkg.version };

export const metaRouter = router({
  /** Which protocol this server speaks (docs/protocol.md#versioning); open to anyone. */
  version: publicProcedure.input(noInput).output(metaVersionOutput).query(() => version),
});
