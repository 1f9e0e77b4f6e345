import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', 'ui/dist/**', 'infra/kafka-local/**', '**/.data/**', '*.config.js', '**/vite.config.ts', '**/vitest.config.ts'],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
    },
  },
  {
    // Tests read inject() bodies with `as` for readability.
    files: ['**/*.test.ts', '**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-unnecessary-type-assertion': 'off' },
  },
  {
    // The domain decides; it never does I/O. Time and ids come in as arguments.
    files: ['packages/core-domain/src/**/*.ts'],
    ignores: ['packages/core-domain/src/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'fs/*', 'net', 'http', 'https', 'child_process', 'os', 'dgram', 'tls', 'worker_threads', 'cluster'], message: 'core-domain is pure: no I/O imports.' },
            { group: ['pg', 'kafkajs', 'fastify', '@eventstore/*', 'ioredis', 'redis', '@tradecore/*'], message: 'core-domain is pure: no infrastructure imports.' },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'fetch', message: 'no I/O in core-domain' }, { name: 'setTimeout', message: 'no timers in core-domain' }, { name: 'setInterval', message: 'no timers in core-domain' }],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'time is injected' }, { object: 'Math', property: 'random', message: 'randomness is injected' }, { object: 'crypto', property: 'randomUUID', message: 'ids are injected' }],
    },
  },
);
