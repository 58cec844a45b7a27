import { z } from 'zod';

/**
 * The version of the wire protocol, `major.minor`. A client compares the major with its own:
 * a different major is a different protocol. Minors only add (see docs/protocol.md#versioning).
 * Independent of any package's version.
 */
export const PROTOCOL_VERSION = '2.0';

export const metaVersionOutput = z.object({
  /** `major.minor` of the wire protocol this server speaks. */
  protocol: z.string().regex(/^\d+\.\d+$/),
  /** The server software's own version, for bug reports; not a compatibility signal. */
  server: z.string().min(1).max(64),
});
export type MetaVersion = z.infer<typeof metaVersionOutput>;
