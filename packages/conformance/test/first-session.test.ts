import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordFirstSession, shapeOf, type RecordedStep } from '../src/first-session.js';
import { deriveKeyFor, solvePow, type PowChallenge } from '../src/pow.js';
import { startDefaultServer } from './default-server.js';

/**
 * docs/protocol.md, held to the server: its proof-of-work worked example is solved by a solver
 * written from the doc (src/pow.ts), and its walk-through is a real exchange that a fresh
 * server on its default settings repeats frame for frame (in shape).
 */
const doc = readFileSync(join(import.meta.dirname, '../../../docs/protocol.md'), 'utf8');
const recorded = JSON.parse(readFileSync(join(import.meta.dirname, '../../protocol/scripts/first-session.json'), 'utf8')) as RecordedStep[];

/** The JSON code blocks of the doc's section that starts with `heading`, in order. */
function jsonBlocksAfter(heading: string): unknown[] {
  const from = doc.indexOf(heading);
  expect(from, heading).toBeGreaterThan(0);
  const section = doc.slice(from, doc.indexOf('\n## ', from));
  return [...section.matchAll(/```json\n([\s\S]*?)\n```/g)].map((m) => JSON.parse(m[1]!) as unknown);
}

describe('docs/protocol.md', () => {
  it("specifies the proof-of-work: a solver written from it finds the worked example's solution", async () => {
    const [challenge, solution] = jsonBlocksAfter('**Worked example**') as [PowChallenge, { counter: number; derivedKey: string }];
    expect(await solvePow(challenge)).toEqual(solution);
    // Step by step, as the doc words it: the password of counter 0 is the nonce then 00000000.
    expect(doc).toContain(`Password for counter 0: \`${challenge.parameters.nonce}00000000\``);
    expect((await deriveKeyFor(challenge.parameters, solution.counter)).toString('hex')).toBe(solution.derivedKey);
  });

  it('walks through a first session that a server on its default settings repeats, frame for frame', async () => {
    // The doc shows exactly the recording (packages/protocol checks the doc is generated from it).
    for (const step of recorded) for (const { dir, frame } of step.frames) expect(doc).toContain(`${dir} ${JSON.stringify(frame)}`);
    const server = await startDefaultServer();
    try {
      const fresh = await recordFirstSession(server.url);
      // Replies to one frame may come in any order: each step is compared as a set of shapes.
      const shapes = (steps: RecordedStep[]) =>
        steps.map((s) => ({ title: s.title, url: s.url, frames: s.frames.map((f) => JSON.stringify([f.dir, shapeOf(f.frame)])).sort() }));
      expect(shapes(fresh)).toEqual(shapes(recorded));
    } finally {
      await server.stop();
    }
  });
});
