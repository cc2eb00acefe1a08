// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Pure libraries: no I/O, no clock, no randomness, no drivers (STYLE.md rule 1).
const impure = [
  { group: ['node:*', 'fs', 'path', 'os', 'child_process', 'net', 'http', 'crypto', 'worker_threads'], message: 'this library is pure: no I/O or node built-ins' },
  { group: ['nats', '@nats-io/*', 'fastify', 'better-sqlite3', '@eventstore/*', 'pino'], message: 'this library is pure: drivers belong to adapters and services' },
];

// libs/bus: only the event schemas of ours, no service or store driver (DESIGN.md, "Who may import whom").
const busImports = [
  { group: ['@lockline/*', '!@lockline/events'], message: 'libs/bus imports only @lockline/events' },
  { group: ['fastify', 'better-sqlite3', '@eventstore/*', '@kurrent/*', 'pino'], message: 'libs/bus knows no store or HTTP server; services log' },
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.tools/**', 'coverage/**', '.scratch/**', '.bench-tmp/**', '.lockline/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // The dashboard (services/api/public): plain ES modules run by the browser, no build step.
  {
    files: ['services/api/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        [
          'window', 'document', 'location', 'history', 'navigator', 'sessionStorage', 'performance', 'fetch', 'requestAnimationFrame',
          'AbortController', 'DOMException', 'TextDecoderStream', 'ResizeObserver', 'Node', 'URL', 'URLSearchParams', 'Event',
          'console', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval',
        ].map((name) => [name, 'readonly']),
      ),
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
  // The fold and the audit are pure: no store, no connection, no clock (DESIGN.md: a fold imports no
  // store or connection). The projection folds with the audit's rules; the audit knows no projection.
  {
    files: ['libs/projection/src/**/*.ts', 'libs/audit/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'libs/projection/src/testing/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [...impure, { group: ['@lockline/eventstore', '@lockline/eventstore/*', '@lockline/bus', '@lockline/sim'], message: 'a fold imports no store, connection or simulator' }] }],
      'no-restricted-globals': ['error', { name: 'Date', message: 'time comes in with the events' }, { name: 'process', message: 'no environment in a pure lib' }, { name: 'console', message: 'libraries are silent' }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'a fold is deterministic' }],
    },
  },
  {
    files: ['libs/audit/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [...impure, { group: ['@lockline/projection', '@lockline/eventstore', '@lockline/bus', '@lockline/sim'], message: 'libs/audit builds on the model and the events only' }] }],
    },
  },
  // libs/sim is pure too: seeded randomness (src/random.ts), a simulated clock, and only the model and
  // the event schemas to build on (DESIGN.md: libs/sim ─> libs/kernel, libs/events).
  {
    files: ['libs/sim/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [...impure, { group: ['@lockline/*', '!@lockline/kernel', '!@lockline/events'], message: 'libs/sim imports only @lockline/kernel and @lockline/events' }] }],
      'no-restricted-globals': ['error', { name: 'Date', message: 'time is the simulated clock (src/clock.ts)' }, { name: 'process', message: 'no environment in a pure lib' }, { name: 'console', message: 'libraries are silent' }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'randomness is the seeded PRNG (src/random.ts)' }, { object: 'Date', property: 'now', message: 'time is the simulated clock (src/clock.ts)' }],
    },
  },
  // The event store knows no bus (DESIGN.md, "Who may import whom"), and only its adapters know a
  // driver: the port, open.ts and the contract import none (STYLE.md rule 4).
  {
    files: ['libs/eventstore/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'libs/eventstore/src/sqlite.ts', 'libs/eventstore/src/esdb.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['nats', '@nats-io/*', '@lockline/bus', '@lockline/projection', '@lockline/audit', 'fastify', 'pino'], message: 'libs/eventstore knows no bus, service or fold' },
        { group: ['better-sqlite3', '@eventstore/*', '@kurrent/*', '**/sqlite.js', '**/esdb.js'], message: 'only the adapters (sqlite.ts, esdb.ts) import a driver; open.ts imports them dynamically' },
      ] }],
    },
  },
  {
    files: ['libs/eventstore/src/sqlite.ts', 'libs/eventstore/src/esdb.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['nats', '@nats-io/*', '@lockline/bus', 'fastify', 'pino'], message: 'libs/eventstore knows no bus' }] }],
    },
  },
  // libs/bus takes connections and builds only on the event schemas (DESIGN.md: libs/bus ─> libs/events).
  // Its core does no I/O of its own: writing a server config is the ./config subpath (natsConfig.ts) and
  // a real test server the ./testing one.
  {
    files: ['libs/bus/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: busImports }],
      'no-restricted-globals': ['error', { name: 'console', message: 'libraries are silent' }],
    },
  },
  {
    files: ['libs/bus/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'libs/bus/src/natsConfig.ts', 'libs/bus/src/testing/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        ...busImports,
        { group: ['node:*', 'fs', 'path', 'os', 'child_process', 'net', 'http', 'crypto', 'worker_threads', '**/natsConfig.js', '**/testing/*'], message: 'the core of libs/bus does no I/O: config files are @lockline/bus/config, test servers @lockline/bus/testing' },
      ] }],
    },
  },
);
