import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** The tests run the bin as users do, from the built bundle: build it from the current source. */
export default function setup() {
  const app = join(import.meta.dirname, '..');
  execFileSync(join(app, 'node_modules/.bin/tsup'), ['--silent'], { cwd: app, stdio: ['ignore', 'ignore', 'inherit'] });
}
