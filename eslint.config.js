// One lint config for the whole workspace. Type-aware rules catch floating promises,
// which in a socket server mean lost errors and unacknowledged writes.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Imports run one way (README: protocol <- core <- adapters, trpc, transport <- main). A relative
// path into another package's src/ or test/ (or from the root into packages/, apps/) would skip
// its exports; packages/server/src/layering.test.ts proves both rules fire.
const otherPackage = {
  regex: '^(\\.\\./)+((packages|apps)/|[^./][^/]*/(src|test)/)',
  message: "Another package's code comes through its exports (e.g. '@omechat/server/testing'), never by a relative path into it.",
};
const outsideCore = {
  regex: '^(\\.\\./)+(?!\\.\\./|ports/)',
  message: 'The core imports @omechat/protocol and its own ports only: adapters, trpc, transport and the composition root depend on it, not the other way.',
};

export default tseslint.config(
  { ignores: ['**/bin/*.js', '**/*.mjs', '**/node_modules/**', '**/dist/**', '**/data/**', '**/*.config.*', '**/.turbo/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      'no-restricted-imports': ['error', { patterns: [otherPackage] }],
    },
  },
  {
    // Core tests compose the core with memory adapters; the core itself never sees one.
    files: ['packages/server/src/core/**'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['pg', 'ioredis', 'better-sqlite3', 'ws'].map((name) => ({ name, message: outsideCore.message })),
          patterns: [otherPackage, outsideCore, { group: ['@trpc/*'], message: outsideCore.message }],
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', '**/test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // Plain JavaScript that workers load without a TypeScript step (types in a .d.ts beside it).
    files: ['packages/sdk/src/pow/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { self: 'readonly' } },
  },
);
