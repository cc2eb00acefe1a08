// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Pure libraries: no I/O, no clock, no randomness, no drivers (STYLE.md rule 1).
const impure = [
  { group: ['node:*', 'fs', 'path', 'os', 'child_process', 'net', 'http', 'crypto', 'worker_threads'], message: 'this library is pure: no I/O or node built-ins' },
  { group: ['nats', '@nats-io/*', 'fastify', 'better-sqlite3', '@eventstore/*', 'pino'], message: 'this library is pure: drivers belong to adapters and services' },
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.tools/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['libs/kernel/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'libs/kernel/src/testing/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [...impure, { group: ['@lockline/*'], message: 'libs/kernel imports nothing of ours' }, { group: ['zod'], message: 'libs/kernel has no wire format' }] }],
      'no-restricted-globals': ['error', { name: 'Date', message: 'time comes in as an argument' }, { name: 'process', message: 'no environment in a pure lib' }, { name: 'console', message: 'libraries are silent' }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'randomness comes in as an argument (a seed)' }],
    },
  },
  {
    files: ['libs/events/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: impure }],
      'no-restricted-globals': ['error', { name: 'process', message: 'no environment in a pure lib' }, { name: 'console', message: 'libraries are silent' }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'randomness comes in as an argument' }],
    },
  },
);
