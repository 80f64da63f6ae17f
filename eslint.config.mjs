// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { builtinModules } from 'node:module';

/** Modules a workflow must never reach: Node built-ins and every I/O library. */
const forbiddenInWorkflows = [
  ...builtinModules,
  ...builtinModules.map((m) => `node:${m}`),
  'pg',
  '@electric-sql/*',
  'nodemailer',
  'twilio',
  '@temporalio/activity',
  '@temporalio/client',
  '@temporalio/worker',
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.data/**',
      '.tools/**',
      'test-results/**',
      'dist/**',
      '.scratch/**',
      'eslint.config.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    rules: {
      // node:test's test() and describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'describe', 'it', 'suite', 'before', 'after'],
            },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
    settings: { 'import-x/resolver': { node: { extensions: ['.ts', '.js'] } } },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: forbiddenInWorkflows.filter((m) => !m.includes('*')),
          patterns: [
            {
              group: [
                '@electric-sql/*',
                '../services/*',
                '../activities/*',
                '../workers/*',
                '../client/*',
                '../local/*',
                '../config/*',
              ],
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    // The domain's words are shared by every layer, so they depend on nothing: no Temporal, no I/O, no other folder.
    files: ['domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: forbiddenInWorkflows.filter((m) => !m.includes('*')),
          patterns: [{ group: ['@temporalio/*', '@electric-sql/*', '../*/**', '!../domain/**'] }],
        },
      ],
    },
  },
  {
    // The real adapters know nothing of Temporal, of the processes they serve, or of the local stand-ins.
    files: ['services/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '@temporalio/*',
                '**/workflows',
                '**/workflows/**',
                '**/activities/**',
                '**/temporal/**',
                '**/workers/**',
                '**/client/**',
                '**/local/**',
              ],
              message:
                'services/ are plain adapters: Temporal, the processes and the local stand-ins sit above them.',
            },
          ],
        },
      ],
    },
  },
);
