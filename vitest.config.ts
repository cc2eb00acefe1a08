import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['lockline-source'] },
  ssr: { resolve: { conditions: ['lockline-source'] } },
  test: {
    include: ['libs/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
