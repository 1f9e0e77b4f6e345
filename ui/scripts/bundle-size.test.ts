// @vitest-environment node
import { existsSync, mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BUDGET_GZIP_BYTES, initialScripts, measure } from './bundle-size.ts';

describe('bundle size budget', () => {
  it('finds the entry script and preloaded chunks in index.html', () => {
    const html =
      '<script type="module" crossorigin src="/assets/index-a.js"></script><link rel="modulepreload" crossorigin href="/assets/vendor-b.js">';
    expect(initialScripts(html)).toEqual(['/assets/index-a.js', '/assets/vendor-b.js']);
  });

  it('measures gzip size and reports an over-budget bundle', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ui-size-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<script type="module" src="/assets/index.js"></script>');
    // Random-ish content that does not compress well, above the budget.
    let s = '';
    let x = 12345;
    while (s.length < BUDGET_GZIP_BYTES * 2) {
      x = (x * 1103515245 + 12345) % 2147483648;
      s += x.toString(36);
    }
    writeFileSync(join(dir, 'assets', 'index.js'), s);
    const r = measure(dir);
    expect(r.totalGzip).toBeGreaterThan(BUDGET_GZIP_BYTES);
  });

  const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
  it.skipIf(!existsSync(join(dist, 'index.html')))('the built ui/dist is within the 300 KiB gzip budget', () => {
    const r = measure(dist);
    expect(r.totalGzip).toBeLessThanOrEqual(BUDGET_GZIP_BYTES);
  });
});
