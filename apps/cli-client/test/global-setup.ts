import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** The tests run the bin as users do, from the built bundle: build it from the current source. */
export default function setup() {
  execFileSync('npx', ['tsup', '--silent'], { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'ignore', 'inherit'] });
}
