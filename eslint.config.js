// @ts-check
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

/** What code that runs in the workflow sandbox may not import; `extra` adds patterns. */
function sandboxRestrictions(extra) {
  return {
    paths: nodeBuiltins.map((name) => ({
      name,
      message: 'workflow and domain code must stay deterministic: no Node built-ins',
    })),
    patterns: [
      { group: ['pg', 'pg/*', 'nodemailer', 'fastify', 'pino'], message: 'I/O belongs in activities/' },
      {
        group: ['../activities/*', '!../activities/contract'],
        message: 'workflows see activities only as types (import type from ../activities/contract)',
      },
      ...extra,
    ],
  };
}

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.data/**', 'bench/results/**', 'coverage/**', 'dist/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'bin/*.js', 'scripts/*.mjs'] } },
    },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'error',
      'import-x/no-cycle': 'error',
    },
  },
  {
    // The console runs in a browser: its own TypeScript project (DOM, JSX for Preact), checked as its own project.
    files: ['client/console/**/*.{ts,tsx}'],
    languageOptions: {
      parserOptions: {
        projectService: false,
        project: './client/console/tsconfig.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^\\.\\./(?!\\.\\./schemas/)', message: 'the console sees the API and the schemas, not the code' },
          ],
        },
      ],
    },
  },
  {
    // Workflow code is replayed in a sandbox: no I/O, no Node built-ins, no clock but the workflow's.
    files: ['workflows/**/*.ts', 'domain/**/*.ts', 'schemas/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', sandboxRestrictions([])] },
  },
  {
    // The workflow bundle must not carry zod: the SDK evaluates the bundle's modules again for every cached
    // lead, and zod with the schemas costs ~2 MB each time. Types are free; values come from schemas/vocabulary.
    files: ['workflows/**/*.ts', 'domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        sandboxRestrictions([
          {
            group: ['zod', 'zod/*', '../schemas/*', '!../schemas/vocabulary'],
            allowTypeImports: true,
            message: 'the workflow bundle carries no zod: import types only, values from ../schemas/vocabulary',
          },
        ]),
      ],
    },
  },
  {
    // The arrows run one way: worker/ and client/ may use admin/, admin/ uses what lies below them all.
    files: ['admin/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../worker/*', '../client/*'], message: 'admin/ sits below worker/ and client/' }] },
      ],
    },
  },
  {
    files: ['client/**/*.ts'],
    ignores: ['client/console/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../worker/*', '../../worker/*'], message: 'client/ does not reach into worker/' }] },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
