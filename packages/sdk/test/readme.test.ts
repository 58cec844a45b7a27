import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiReference, END, START } from './api-reference.js';

/** The README ships in the package: its reference must match the types, its links must resolve there. */
const path = join(import.meta.dirname, '../README.md');

describe('the SDK README', () => {
  it('carries the API reference generated from the source (signatures, events, error codes)', { timeout: 60_000 }, () => {
    const readme = readFileSync(path, 'utf8');
    const [before, rest] = readme.split(START);
    const after = rest?.split(END)[1];
    expect(after, `the README needs the markers ${START} ... ${END}`).toBeDefined();
    const reference = apiReference();
    expect(reference.split('\n').filter((row) => row.endsWith('|  |')), 'members without a JSDoc summary').toEqual([]);
    const fresh = `${before}${START}\n\n${reference}\n\n${END}${after}`;
    if (process.env.UPDATE_README) writeFileSync(path, fresh);
    else expect(readme, 'regenerate it: UPDATE_README=1 npx vitest run test/readme.test.ts').toBe(fresh);
  });

  it('links to nothing outside the published package', () => {
    const readme = readFileSync(path, 'utf8');
    const relative = [...readme.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!).filter((target) => !/^(https?:|mailto:|#)/.test(target));
    expect(relative).toEqual([]);
  });
});
