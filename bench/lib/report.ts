import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BENCHMARKS_MD = join(import.meta.dirname, '../../BENCHMARKS.md');

const HEADER = `# Benchmarks

Produced by the scripts in \`bench/\` (see \`bench/README.md\`); each section below is
rewritten by its script on every run, with the machine, date and command that produced it.
Figures are from one run on the machine named in the section: compare ratios, not absolute
numbers, across machines.
`;

/** Replaces the section of one benchmark in BENCHMARKS.md (appends it the first time). */
export function writeSection(name: string, markdown: string): void {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  let doc = existsSync(BENCHMARKS_MD) ? readFileSync(BENCHMARKS_MD, 'utf8') : HEADER;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i >= 0 && j > i) doc = doc.slice(0, i) + block + doc.slice(j + end.length);
  else doc = `${doc.trimEnd()}\n\n${block}\n`;
  writeFileSync(BENCHMARKS_MD, doc);
  console.log(`wrote the "${name}" section of ${BENCHMARKS_MD}`);
}

/** A markdown table. */
export function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The script's own arguments: `pnpm run x -- --flag` passes the `--` through. */
export function scriptArgs(): string[] {
  const argv = process.argv.slice(2);
  return argv[0] === '--' ? argv.slice(1) : argv;
}

/** Markdown: the command that ran this script, from the repository root, and what it executes. */
export function commandLine(script: string): string {
  const args = scriptArgs().join(' ');
  const pnpm = `pnpm --filter @omechat/bench run ${script}${args ? ` -- ${args}` : ''}`;
  const node = `cd bench && node --import tsx ${script}.ts${args ? ` ${args}` : ''}`;
  return `\`${pnpm}\` (= \`${node}\`)`;
}
