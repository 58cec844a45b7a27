import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { ERROR_DESCRIPTIONS } from '@omechat/protocol';
import { SDK_ERROR_DESCRIPTIONS } from '../src/errors.js';

/**
 * The SDK README's API reference, generated from the source: every member of `OmeChatClient`
 * with its signature as written, the exports of `@omechat/sdk/chat-state`, every event of
 * `ClientEvent` with its fields (as the type checker sees them), and every error code.
 * readme.test.ts fails when the README differs, so the reference cannot drift.
 */
const src = join(import.meta.dirname, '../src');

/** Parsed with its JSDoc and parent links (a program's files skip JSDoc that carries no types). */
const parse = (name: string) => ts.createSourceFile(name, readFileSync(join(src, name), 'utf8'), ts.ScriptTarget.ES2022, true);

const cell = (text: string) => text.replace(/\s+/g, ' ').replace(/\|/g, '\\|').trim();
const code = (text: string) => `\`${cell(text)}\``;

/** The first sentence of a node's JSDoc. */
function summary(node: ts.Node): string {
  const doc = ts.getJSDocCommentsAndTags(node).find(ts.isJSDoc);
  const text = typeof doc?.comment === 'string' ? doc.comment : (doc?.comment?.map((c) => c.text).join('') ?? '');
  const first = text.replace(/\s+/g, ' ').match(/^.*?\.(?=\s|$)/)?.[0] ?? text;
  return cell(first);
}

/** A member's declaration as written, without its JSDoc. */
function signature(node: ts.Node, file: ts.SourceFile, name: string): string {
  const text = node.getText(file).replace(/;$/, '').replace(/^readonly /, '');
  return `${name.slice(0, name.lastIndexOf('.') + 1)}${text}`;
}

function clientMembers(): string[] {
  const file = parse('client.ts');
  const rows: string[] = [];
  const walk = (members: ts.NodeArray<ts.TypeElement>, prefix: string) => {
    for (const member of members) {
      const name = `${prefix}${member.name?.getText(file) ?? ''}`;
      if (ts.isPropertySignature(member) && member.type && ts.isTypeLiteralNode(member.type)) walk(member.type.members, `${name}.`);
      else rows.push(`| ${code(signature(member, file, name))} | ${summary(member)} |`);
    }
  };
  ts.forEachChild(file, (node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === 'OmeChatClient') walk(node.members, 'client.');
  });
  return ['| member | what it does |', '| --- | --- |', ...rows];
}

function chatStateExports(): string[] {
  const file = parse('chat-state.ts');
  const rows: string[] = [];
  ts.forEachChild(file, (node) => {
    const exported = ts.canHaveModifiers(node) && ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (!exported) return;
    if (ts.isFunctionDeclaration(node) && node.name && node.body) {
      const head = node.getText(file).slice(0, node.body.getStart(file) - node.getStart(file)).replace(/^export (function )?/, '');
      rows.push(`| ${code(head)} | ${summary(node)} |`);
    } else if (ts.isVariableStatement(node)) {
      for (const d of node.declarationList.declarations) rows.push(`| ${code(d.getText(file).split(' => ')[0]!)} | ${summary(node)} |`);
    } else if ((ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) && node.name) {
      rows.push(`| ${code(`type ${node.name.text}`)} | ${summary(node)} |`);
    }
  });
  return ['| export | what it is |', '| --- | --- |', ...rows];
}

function events(program: ts.Program): string[] {
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(join(src, 'secure.ts'))!;
  const alias = file.statements.find((node): node is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(node) && node.name.text === 'ClientEvent')!;
  const union = checker.getTypeAtLocation(alias.name) as ts.UnionType;
  const rows = union.types.map((member) => {
    const fields = member.getProperties().map((p) => {
      // Branded ids (`string & $brand<"ChatId">`) read better by their names.
      const type = checker.typeToString(checker.getTypeOfSymbol(p), undefined, ts.TypeFormatFlags.NoTruncation).replace(/string & \$brand<"(\w+)">/g, '$1');
      return { name: p.name, type: p.flags & ts.SymbolFlags.Optional ? `${type} (optional)` : type };
    });
    const tag = fields.find((f) => f.name === 'type')!.type;
    const rest = fields.filter((f) => f.name !== 'type').map((f) => `${f.name}: ${f.type}`);
    return `| ${code(tag)} | ${cell(rest.map((r) => `\`${r}\``).join(', '))} |`;
  });
  return ['| `type` | fields |', '| --- | --- |', ...rows];
}

function errors(): string[] {
  const rows = [
    ...Object.entries(ERROR_DESCRIPTIONS).map(([name, text]) => `| \`${name}\` | server | ${cell(text)} |`),
    ...Object.entries(SDK_ERROR_DESCRIPTIONS).map(([name, text]) => `| \`${name}\` | SDK | ${cell(text)} |`),
  ];
  return ['| `code` | from | meaning |', '| --- | --- | --- |', ...rows];
}

export function apiReference(): string {
  const options: ts.CompilerOptions = {
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    skipLibCheck: true,
  };
  const program = ts.createProgram([join(src, 'index.ts')], options);
  return [
    '### `createOmeChatClient(options: OmeChatClientOptions): OmeChatClient`',
    '',
    ...clientMembers(),
    '',
    '### `@omechat/sdk/chat-state`',
    '',
    ...chatStateExports(),
    '',
    '### Events (`ClientEvent`, what `client.on` delivers)',
    '',
    ...events(program),
    '',
    '### Error codes (`OmeChatError.code`)',
    '',
    ...errors(),
  ].join('\n');
}

export const START = '<!-- api-reference: generated by test/api-reference.ts; UPDATE_README=1 pnpm vitest run test/readme.test.ts -->';
export const END = '<!-- api-reference end -->';
