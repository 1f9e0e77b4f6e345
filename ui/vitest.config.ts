import { defineProject } from 'vitest/config';
import react from '@vitejs/plugin-react';

/**
 * Component tests run in jsdom. End-to-end tests (e2e/*.e2e.test.ts) declare
 * `@vitest-environment node` themselves: they spawn the single-node server and drive Chromium.
 */
export default defineProject({
  plugins: [react()],
  test: {
    name: '@tradecore/ui',
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}', 'e2e/**/*.e2e.test.ts', 'scripts/**/*.test.ts'],
    setupFiles: ['./src/test/setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 240_000,
  },
});
