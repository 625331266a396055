import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{core,signaling,client,cli,e2e}/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
