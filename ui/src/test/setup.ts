import { afterEach } from 'vitest';

// Testing Library cleans up only when vitest globals are on; do it explicitly.
afterEach(async () => {
  if (typeof document === 'undefined') return;
  const { cleanup } = await import('@testing-library/react');
  cleanup();
  sessionStorage.clear();
});
